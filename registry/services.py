"""Writes of the registry layer: the Run mirror, and aliases with their ModelVersion mirror rows."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from core.naming import run_name_make
from registry import clients
from registry.models import ModelVersion, Run

# --- The Run mirror -----------------------------------------------------------------------------


def run_create(
    *,
    kind: str,
    model_name: str = "",
    model_version: str = "",
    params: dict[str, Any] | None = None,
    started_at: datetime | None = None,
    run_name: str | None = None,
    job_id: Any = None,
) -> Run:
    """Record a run that is about to start, named ``{kind}_{datetime}`` unless a name is given."""
    started_at = started_at or timezone.now()
    return Run.objects.create(
        kind=kind,
        run_name=run_name or run_name_make(kind, started_at),
        registered_model_name=model_name,
        model_version=model_version,
        params=params or {},
        started_at=started_at,
        job_id=job_id,
    )


def run_succeed(*, run: Run, metrics: dict[str, float], model_version: str = "") -> Run:
    """Mark ``run`` succeeded with its final metrics."""
    run.status = Run.Status.SUCCEEDED
    run.metrics = metrics
    run.model_version = model_version or run.model_version
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "metrics", "model_version", "finished_at", "updated_at"])
    return run


def run_record_finished(
    *,
    run: Run,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    ended_at: datetime | None = None,
) -> Run:
    """Log ``run`` to MLflow as a whole finished run, then mark its row succeeded (infer, eval, drift runs).

    Idempotent on retry: a run that already has an MLflow id (``run.mlflow_run_id``) is not logged again.
    """
    if not run.mlflow_run_id:
        run.mlflow_run_id = clients.run_log_finished(
            run_name=run.run_name,
            started_at=run.started_at,
            ended_at=ended_at or timezone.now(),
            params={key: str(value) for key, value in params.items()},
            metrics=metrics,
            tags=tags,
        )
    run.mlflow_experiment_id = clients.mlflow_setup()
    run.save(update_fields=["mlflow_run_id", "mlflow_experiment_id", "updated_at"])
    return run_succeed(run=run, metrics=metrics)


def run_fail(*, run: Run, exc: BaseException) -> Run:
    """Mark ``run`` failed, keeping the error and its traceback."""
    run.status = Run.Status.FAILED
    run.error = f"{type(exc).__name__}: {exc}"
    run.traceback = "".join(traceback.format_exception(exc))
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "traceback", "finished_at", "updated_at"])
    return run


def runs_fail_unfinished(*, job_id: Any, error: str) -> int:
    """Fail the runs of a stopped job that didn't succeed, with ``error``: here, and in MLflow those left running."""
    runs = list(Run.objects.filter(job_id=job_id).exclude(status=Run.Status.SUCCEEDED))
    for run in runs:
        if run.status == Run.Status.RUNNING and run.mlflow_run_id:
            clients.run_terminate_failed(run_id=run.mlflow_run_id, error=error)
        run.status, run.error, run.finished_at = Run.Status.FAILED, error, run.finished_at or timezone.now()
        run.save(update_fields=["status", "error", "finished_at", "updated_at"])
    return len(runs)


# --- Aliases --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AliasResult:
    """An alias pointed at a version."""

    model_name: str
    alias: str
    version: str
    status: str = "success"


def model_alias_set(*, name: str, alias: str, version: str) -> AliasResult:
    """Point ``alias`` at ``version`` (promotion); 404 for an unknown model or version."""
    from registry.serving import resolution_cache

    clients.model_version_get(name=name, version=version)
    clients.alias_set(name=name, alias=alias, version=version)
    # This process serves the new target at once; others within MLSERVICE_ALIAS_TTL_S.
    resolution_cache.clear()
    model_versions_refresh_aliases(name=name)
    return AliasResult(model_name=name, alias=alias, version=version)


def model_alias_delete(*, name: str, alias: str) -> None:
    """Remove ``alias`` from ``name``; 404 when it isn't set."""
    from registry.serving import resolution_cache

    clients.alias_delete(name=name, alias=alias)
    resolution_cache.clear()
    model_versions_refresh_aliases(name=name)


def model_versions_refresh_aliases(*, name: str) -> None:
    """Copy the registry's aliases of ``name`` onto the ModelVersion mirror rows."""
    aliases: dict[str, list[str]] = {}
    for alias, version in (clients.registered_model(name=name).aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    for row in ModelVersion.objects.filter(registered_model_name=name):
        current = sorted(aliases.get(row.version, []))
        if row.aliases != current:
            row.aliases = current
            row.save(update_fields=["aliases", "updated_at"])
