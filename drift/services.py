"""Writes of the drift app: drift samples, drift checks and their events."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction

from core.exceptions import InvalidInput, NotFound
from core.notifications import DRIFT_DETECTED, ESTIMATED_PERFORMANCE_ALERT, notification_send
from drift import clients
from drift.comparison import AUTO, COMPLETED, drift_compare, is_continuous
from drift.estimates import (
    ModelSignals,
    model_signals_compute,
    model_signals_unavailable,
    multivariate_drift,
    multivariate_unavailable,
)
from drift.hooks import drift_check_hooks_run
from drift.models import DriftEvent, DriftSample
from registry.models import Run

logger = logging.getLogger(__name__)

DEFAULT_METHODS = {"continuous": AUTO, "categorical": AUTO}
HISTOGRAM_BINS = 20
TOP_CATEGORIES = 20


# --- Drift samples --------------------------------------------------------------------------------


def drift_sample_create(*, frame: pd.DataFrame, target: str, model_name: str, run: Run | None) -> DriftSample:
    """Write ``frame`` to the drift-samples storage as Parquet and record it (version still unset)."""
    sample_id = uuid.uuid4()
    name = clients.parquet_write(path=f"{model_name}/{sample_id}.parquet", frame=frame)
    try:
        return DriftSample.objects.create(
            id=sample_id,
            file=name,
            rows=len(frame),
            columns=[str(column) for column in frame.columns],
            dtypes={str(column): str(dtype) for column, dtype in frame.dtypes.items()},
            target=target if target in frame.columns else "",
            registered_model_name=model_name,
            run=run,
        )
    except Exception:
        clients.file_delete(name)
        raise


def drift_sample_attach(*, sample: DriftSample, model_version: str) -> DriftSample:
    """Record the registered version that owns ``sample``."""
    sample.model_version = model_version
    sample.save(update_fields=["model_version", "updated_at"])
    return sample


def drift_sample_discard(*, sample: DriftSample) -> None:
    """Delete a sample's file and row (compensation after a failed training); best effort."""
    try:
        clients.file_delete(str(sample.file.name))
    except Exception:
        logger.warning("Could not delete drift sample file %s", sample.file.name, exc_info=True)
    with transaction.atomic():
        DriftSample.objects.filter(pk=sample.pk).delete()


def drift_samples_discard_unattached(*, job_id: Any) -> int:
    """Discard the samples a job's runs stored but never attached to a version (it was stopped); return how many."""
    samples = list(DriftSample.objects.filter(run__job_id=job_id, model_version=""))
    for sample in samples:
        drift_sample_discard(sample=sample)
    return len(samples)


def drift_sample_frame(*, sample: DriftSample) -> pd.DataFrame:
    """Load a drift sample's rows from storage."""
    return clients.parquet_read(str(sample.file.name))


def drift_sample_of_version(*, model_name: str, model_version: str) -> DriftSample:
    """Return the drift sample of a registered version, or NotFound."""
    sample = DriftSample.objects.filter(registered_model_name=model_name, model_version=model_version).first()
    if sample is None:
        raise NotFound(
            f"No drift sample for {model_name} v{model_version}.",
            details={"model_version": [f"{model_name} v{model_version} has no drift sample"]},
        )
    return sample


# --- Drift checks ---------------------------------------------------------------------------------


@dataclass
class DriftCheck:
    """What one check compares: the subject against a baseline, on some columns, with some methods."""

    subject: pd.DataFrame
    baseline: pd.DataFrame
    trigger: str
    model_name: str = ""
    model_version: str = ""
    sample: DriftSample | None = None
    columns: list[str] | None = None
    methods: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_METHODS))
    thresholds: dict[str, Any] = field(default_factory=dict)
    alpha: float = field(default_factory=lambda: settings.MLSERVICE_DRIFT_ALPHA)
    correction: str = field(default_factory=lambda: settings.MLSERVICE_DRIFT_CORRECTION)
    save_subject: bool = False
    # Feedback on the subject's rows (None where none came), for realized performance beside the estimate.
    ground_truth: pd.Series | None = None


def drift_check_run(*, check: DriftCheck) -> DriftEvent:
    """Compare subject and baseline, record a DriftEvent and its MLflow run, and return it.

    Every check is recorded, drift or not, and "insufficient_data" when either side is too small
    for a verdict. The MLflow run is best effort: if MLflow is down the event is still kept and
    its Run row says why the run failed. A check of a model version also estimates the version's
    performance on the subject and compares its outputs with those on its drift sample; every check
    gets multivariate drift when the baseline is large enough (drift.estimates). The event is saved
    in one transaction with the retraining hooks' decision (drift.hooks), so ``retrain_job_id`` is
    set when the model's retraining policy enqueued a retrain on this check.
    """
    columns = _check_columns(check)
    comparison = drift_compare(
        baseline=check.baseline,
        subject=check.subject,
        columns=columns,
        methods=check.methods,
        thresholds=check.thresholds,
        alpha=check.alpha,
        correction=check.correction,
        reference_key=f"sample:{check.sample.pk}" if check.sample else None,
    )
    event = DriftEvent(
        registered_model_name=check.model_name,
        model_version=check.model_version,
        trigger=check.trigger,
        baseline_kind=DriftEvent.Baseline.DRIFT_SAMPLE if check.sample else DriftEvent.Baseline.DATASET,
        drift_sample=check.sample,
        baseline_rows=len(check.baseline),
        subject_rows=len(check.subject),
        methods=check.methods,
        alpha=check.alpha,
        correction=check.correction,
        status=comparison.status,
        message=comparison.message,
        rule=comparison.rule,
        chunk_size=comparison.chunk_size,
        features=[feature.as_dict() for feature in comparison.features],
        data_quality=[column.as_dict() for column in comparison.data_quality],
        data_quality_alert=comparison.data_quality_alert,
        drift_detected=comparison.drift_detected,
        drifted_share=comparison.drifted_share,
    )
    if comparison.status == COMPLETED:
        continuous = [feature.column for feature in comparison.features if feature.kind == "continuous"]
        categorical = [feature.column for feature in comparison.features if feature.kind == "categorical"]
        event.distributions = distributions_summarise(check.baseline, check.subject, continuous, categorical)
    if check.model_name and check.model_version:
        signals = _model_signals(check)
        event.estimated_performance = signals.estimated_performance
        event.prediction_drift = signals.prediction_drift
    event.multivariate = _multivariate(check, columns)
    if check.save_subject:
        event.subject_file = clients.parquet_write(path=f"subjects/{uuid.uuid4()}.parquet", frame=check.subject)
    event.run = _drift_run_log(event)
    with transaction.atomic():
        event.save()
        # Retraining policies (models_api, through drift.hooks) decide in the same transaction.
        event.retrain_job_id = drift_check_hooks_run(event)
        if event.retrain_job_id is not None:
            event.save(update_fields=["retrain_job_id", "updated_at"])
        drift_notifications_send(event)
    return event


def drift_notifications_send(event: DriftEvent) -> None:
    """Queue the webhook's events for a recorded check: drift detected, estimated performance in alert."""
    common = {"model_name": event.registered_model_name, "model_version": event.model_version,
              "event_id": event.pk, "trigger": event.trigger, "retrain_job_id": event.retrain_job_id,
              "report_url": f"/drift-events/{event.pk}/report"}  # fmt: skip
    if event.status == DriftEvent.Status.COMPLETED and event.drift_detected:
        notification_send(
            event=DRIFT_DETECTED,
            payload={**common, "drifted_share": event.drifted_share, "drifted_columns": event.alerted_columns,
                     "rows": {"baseline": event.baseline_rows, "subject": event.subject_rows}},
        )  # fmt: skip
    estimate = event.estimated_performance or {}
    if estimate.get("alert"):
        fields = ("metric", "method", "value", "lower", "upper", "reference_value", "realized")
        notification_send(
            event=ESTIMATED_PERFORMANCE_ALERT, payload={**common, **{key: estimate.get(key) for key in fields}}
        )


def _model_signals(check: DriftCheck) -> ModelSignals:
    """Return the version's estimate and prediction drift; a failure there never loses the check."""
    sample = (
        check.sample
        or DriftSample.objects.filter(registered_model_name=check.model_name, model_version=check.model_version).first()
    )
    try:
        return model_signals_compute(
            model_name=check.model_name, model_version=check.model_version, sample=sample, subject=check.subject,
            ground_truth=check.ground_truth, alpha=check.alpha, correction=check.correction,
        )  # fmt: skip
    except Exception as exc:
        logger.exception("Drift check of %s v%s: the model's signals failed", check.model_name, check.model_version)
        return model_signals_unavailable(f"Could not be computed: {exc}")


def _multivariate(check: DriftCheck, columns: list[str]) -> dict[str, Any]:
    """Return the multivariate drift of the check's columns; a failure there never loses the check."""
    reference_key = f"sample:{check.sample.pk}" if check.sample else None
    try:
        return multivariate_drift(
            baseline=check.baseline, subject=check.subject, columns=columns, reference_key=reference_key
        )
    except Exception as exc:
        logger.exception("Drift check: multivariate drift failed")
        return multivariate_unavailable(f"Could not be computed: {exc}")


def _check_columns(check: DriftCheck) -> list[str]:
    """Return the columns to compare; 400 naming any column a side lacks."""
    target = check.sample.target if check.sample else ""
    columns = check.columns or [column for column in check.baseline.columns if column != target]
    for side, frame in (("data", check.subject), ("baseline", check.baseline)):
        missing = [column for column in columns if column not in frame.columns]
        if missing:
            raise InvalidInput(
                f"{side}: missing column(s) {', '.join(missing)}.",
                details={side: [f"missing column {c!r}" for c in missing]},
            )
    _numbers_where_the_baseline_has_numbers(check, columns)
    return columns


def _numbers_where_the_baseline_has_numbers(check: DriftCheck, columns: list[str]) -> None:
    """Cast the subject's columns that are numeric in the baseline; 400 naming any with a value that isn't."""
    for column in columns:
        if not is_continuous(check.baseline[column]) or is_continuous(check.subject[column]):
            continue
        values = pd.to_numeric(check.subject[column], errors="coerce")
        wrong = check.subject[column][values.isna() & check.subject[column].notna()]
        if not wrong.empty:
            raise InvalidInput(
                f"data: column {column!r} is numeric in the baseline but has {wrong.iloc[0]!r}.",
                details={"data": [f"column {column!r}: {len(wrong)} value(s) are not numbers"]},
            )
        check.subject = check.subject.assign(**{column: values})


def distributions_summarise(
    baseline: pd.DataFrame, subject: pd.DataFrame, continuous: list[str], categorical: list[str]
) -> dict[str, Any]:
    """Return per-column histograms (shares) of baseline and subject, small enough to keep on the event."""
    summary: dict[str, Any] = {}
    for column in continuous:
        both = pd.concat([baseline[column], subject[column]]).dropna()
        if both.empty:
            continue
        low, high = np.quantile(both, [0.005, 0.995])
        edges = np.linspace(low, high if high > low else low + 1, HISTOGRAM_BINS + 1)
        summary[column] = {
            "kind": "continuous",
            "edges": edges.round(6).tolist(),
            "baseline": _shares(baseline[column], edges),
            "subject": _shares(subject[column], edges),
        }
    for column in categorical:
        base = baseline[column].astype(str).value_counts(normalize=True)
        subj = subject[column].astype(str).value_counts(normalize=True)
        labels = (base.add(subj, fill_value=0)).sort_values(ascending=False).index[:TOP_CATEGORIES].tolist()
        summary[column] = {"kind": "categorical", "labels": labels,
                           "baseline": [round(float(base.get(label, 0.0)), 6) for label in labels],
                           "subject": [round(float(subj.get(label, 0.0)), 6) for label in labels]}  # fmt: skip
    return summary


def _shares(series: pd.Series, edges: np.ndarray) -> list[float]:
    values = series.dropna().clip(edges[0], edges[-1])
    counts, _ = np.histogram(values, bins=edges)
    total = counts.sum() or 1
    return [round(float(count) / total, 6) for count in counts]


def _metric_key(column: str) -> str:
    """Return a column name MLflow accepts as part of a metric key."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", column)


def _drift_run_log(event: DriftEvent) -> Run:
    """Log the check as an MLflow run ``drift_{model}_{version}_{datetime}`` and mirror it; best effort."""
    from registry.services import run_create, run_fail, run_record_finished

    prefix = f"drift_{event.registered_model_name or 'dataset'}_{event.model_version or 'none'}"
    metrics = {"drifted_share": event.drifted_share, "drift_detected": float(event.drift_detected)}
    for feature in event.features:
        key = _metric_key(feature["column"])
        for name in ("value", "p_value"):
            if feature.get(name) is not None:
                metrics[f"{key}.{name}"] = feature[name]
        metrics[f"{key}.alert"] = float(feature["alert"])
    metrics.update(_signal_metrics(event))
    params = {"trigger": event.trigger, "status": event.status, "baseline_rows": event.baseline_rows,
              "subject_rows": event.subject_rows, "alpha": event.alpha, "correction": event.correction,
              **{f"method_{k}": v for k, v in event.methods.items()}}  # fmt: skip
    run = run_create(kind=Run.Kind.DRIFT, model_name=event.registered_model_name,
                     model_version=event.model_version, params=params)  # fmt: skip
    run.run_name = f"{prefix}_{run.run_name.removeprefix('drift_')}"
    run.save(update_fields=["run_name"])
    try:
        tags = {"mlservice.kind": "drift", "mlservice.model_name": event.registered_model_name}
        return run_record_finished(run=run, params=params, metrics=metrics, tags=tags)
    except Exception as exc:
        logger.warning("Drift check recorded, but its MLflow run failed: %s", exc)
        return run_fail(run=run, exc=exc)


def _signal_metrics(event: DriftEvent) -> dict[str, float]:
    """Return the MLflow metrics of the estimate, the prediction drift and the multivariate drift."""
    metrics: dict[str, float] = {}
    estimate = event.estimated_performance or {}
    if estimate.get("metric"):
        for metric, entry in {estimate["metric"]: estimate, **estimate.get("metrics", {})}.items():
            for name in ("value", "realized", "reference_value"):
                if entry.get(name) is not None:
                    metrics[f"estimated_{metric}.{name}"] = entry[name]
            metrics[f"estimated_{metric}.alert"] = float(entry["alert"])
    for prefix, signal in (("prediction_drift", event.prediction_drift), ("multivariate", event.multivariate)):
        if signal and signal.get("value") is not None:
            metrics[f"{prefix}.value"] = signal["value"]
            if signal.get("p_value") is not None:
                metrics[f"{prefix}.p_value"] = signal["p_value"]
            metrics[f"{prefix}.alert"] = float(signal["alert"])
    return metrics


def drift_check_request(
    *,
    data: Any,
    baseline: Any = None,
    model_name: str = "",
    model_version: str | None = None,
    alias: str | None = None,
    columns: list[str] | None = None,
    methods: dict[str, str] | None = None,
    thresholds: dict[str, Any] | None = None,
    alpha: float | None = None,
    correction: str | None = None,
    save_subject: bool = False,
) -> DriftEvent:
    """POST /data-drift: the subject against the given baseline, else the version's drift sample."""
    from core.datasets import dataset_load
    from registry.serving import model_version_resolve

    subject = dataset_load(data, field="data")
    sample = None
    version = ""
    if model_name:
        version = model_version_resolve(name=model_name, version=model_version, alias=alias)
    if baseline is not None:
        reference = dataset_load(baseline, field="baseline")
    elif model_name:
        sample = drift_sample_of_version(model_name=model_name, model_version=version)
        reference = drift_sample_frame(sample=sample)
    else:
        raise InvalidInput.for_field(
            "model_name", "required when no baseline is given (the baseline is its drift sample)."
        )
    check = DriftCheck(
        subject=subject, baseline=reference, trigger=DriftEvent.Trigger.MANUAL, model_name=model_name,
        model_version=version, sample=sample, columns=columns, methods={**DEFAULT_METHODS, **(methods or {})},
        thresholds=thresholds or {}, save_subject=save_subject,
    )  # fmt: skip
    if alpha is not None:
        check.alpha = alpha
    if correction is not None:
        check.correction = correction
    return drift_check_run(check=check)


def drift_check_version(*, model_name: str, model_version: str, window: int, trigger: str) -> DriftEvent:
    """Check the last ``window`` stored inputs of a version against its drift sample (feedback rides along)."""
    from predictions.selectors import recent_inputs_with_feedback

    sample = drift_sample_of_version(model_name=model_name, model_version=model_version)
    subject, ground_truth = recent_inputs_with_feedback(
        model_name=model_name, model_version=model_version, limit=window
    )
    baseline = drift_sample_frame(sample=sample)
    check = DriftCheck(subject=subject, baseline=baseline, trigger=trigger, model_name=model_name,
                       model_version=model_version, sample=sample, ground_truth=ground_truth)  # fmt: skip
    if subject.empty:
        check.subject = baseline.head(0)
        check.ground_truth = None
    return drift_check_run(check=check)
