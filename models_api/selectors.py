"""Reads of the model registry (MLflow) joined with what this service recorded."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet

from core.filters import filters_apply
from models_api.filters import JobFilter
from models_api.models import Job
from registry import clients
from registry.models import Run


def registered_models_list() -> list[dict[str, Any]]:
    """Return every registered model with its aliases and latest version."""
    return [
        {
            "name": model.name,
            "description": model.description or "",
            "aliases": {alias: str(version) for alias, version in (model.aliases or {}).items()},
            "latest_version": str(max((int(v.version) for v in model.latest_versions or []), default=0) or "") or None,
            "created_at": _time(model.creation_timestamp),
            "updated_at": _time(model.last_updated_timestamp),
        }
        for model in clients.registered_models()
    ]


def registered_model_detail(*, name: str) -> dict[str, Any]:
    """Return a registered model with every version: aliases, drift sample, training run and metrics."""
    model = clients.registered_model(name=name)
    versions = clients.model_versions(name=name)
    training_runs = {run.run_name: run for run in Run.objects.filter(kind=Run.Kind.TRAIN, registered_model_name=name)}
    aliases_of: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases_of.setdefault(str(version), []).append(alias)
    rows = []
    for version in sorted(versions, key=lambda v: int(v.version), reverse=True):
        run = training_runs.get(version.tags.get("run_name", ""))
        rows.append({
            "version": str(version.version),
            "aliases": sorted(aliases_of.get(str(version.version), [])),
            "drift_sample_id": version.tags.get("drift_sample_id"),
            "run_id": version.run_id,
            "run_name": version.tags.get("run_name"),
            "metrics": run.metrics if run else {},
            "estimator": run.params.get("estimator") if run else None,
            "created_at": _time(version.creation_timestamp),
            "tags": {k: v for k, v in version.tags.items() if k not in ("drift_sample_id", "run_name")},
        })  # fmt: skip
    return {
        "name": model.name,
        "description": model.description or "",
        "aliases": {alias: str(version) for alias, version in (model.aliases or {}).items()},
        "created_at": _time(model.creation_timestamp),
        "versions": rows,
    }


def _time(milliseconds: int | None) -> str | None:
    if not milliseconds:
        return None
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC).isoformat()


def jobs_list(*, filters: Mapping[str, Any] | None = None) -> QuerySet[Job]:
    """Return jobs, newest first, narrowed by JobFilter's ``filters``."""
    queryset = Job.objects.order_by("-created_at")
    return filters_apply(JobFilter, filters, queryset) if filters else queryset
