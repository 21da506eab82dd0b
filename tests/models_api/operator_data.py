"""A registered model as the operator's page sees it (shared by the page's tests and the browser suite)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from drift.models import DriftEvent
from models_api.models import Job, RetrainPolicy
from registry.models import ModelVersion
from tests.predictions.factories import PredictionFactory

NAME = "churn-ops"


def estimate(value: float, *, alert: bool = False, realized: float | None = None) -> dict[str, object]:
    return {"metric": "accuracy", "method": "cbpe", "value": value, "lower": value - 0.02, "upper": value + 0.02,
            "reference_value": 0.9, "alert": alert, "realized": realized, "rows": 500, "labelled_rows": 0}  # fmt: skip


def seed_model(name: str = NAME) -> dict[str, object]:
    """Create a model as the page sees it: three versions, checks with estimates, traffic, feedback, policy, jobs."""
    now = timezone.now()
    ModelVersion.objects.create(registered_model_name=name, version="1", estimator="RandomForestClassifier",
                                fast_path="none: skl2onnx failed")  # fmt: skip
    ModelVersion.objects.create(registered_model_name=name, version="2", estimator="RandomForestClassifier",
                                aliases=["production"], fast_path="onnx")  # fmt: skip
    ModelVersion.objects.create(registered_model_name=name, version="3", estimator="LogisticRegression",
                                aliases=["challenger"], fast_path="onnx")  # fmt: skip
    events = []
    for index, value in enumerate([0.91, 0.90, 0.88, 0.84, 0.79]):
        event = DriftEvent.objects.create(
            registered_model_name=name, model_version="2", trigger=DriftEvent.Trigger.MONITORING,
            baseline_kind=DriftEvent.Baseline.DRIFT_SAMPLE, baseline_rows=2000, subject_rows=500,
            drift_detected=index == 4, drifted_share=0.4 if index == 4 else 0.1 * index / 4,
            estimated_performance=estimate(value, alert=value < 0.8),
        )  # fmt: skip
        DriftEvent.objects.filter(pk=event.pk).update(created_at=now - timedelta(hours=5 - index))
        events.append(event)
    # Traffic: 3 rows on each of the last three days for v2, one row today for v3; 4 of v2's with
    # feedback, 3 right (the realized accuracy is 0.75).
    for days_ago in (2, 1, 0):
        for _ in range(3):
            PredictionFactory(model_name=name, model_version="2", prediction=1,
                              created_at=now - timedelta(days=days_ago))  # fmt: skip
    PredictionFactory(model_name=name, model_version="3", prediction=0, created_at=now)
    for truth, prediction in zip((1, "1", 1, 0), (1, 1, 1, 1), strict=True):
        PredictionFactory(model_name=name, model_version="2", prediction=prediction, ground_truth=truth,
                          ground_truth_at=now, created_at=now - timedelta(days=3))  # fmt: skip
    policy = RetrainPolicy.objects.create(model_name=name, min_drifted_share=0.2, estimated_drop_metric="accuracy",
                                          estimated_drop_min=0.05, cooldown_s=1800)  # fmt: skip
    train = Job.objects.create(kind=Job.Kind.TRAIN, model_name=name, status=Job.Status.SUCCEEDED,
                               result={"status": "success", "model_version": "3"})  # fmt: skip
    retrain = Job.objects.create(
        kind=Job.Kind.RETRAIN, model_name=name, status=Job.Status.SUCCEEDED, drift_event=events[-1],
        result={"status": "kept", "message": "the candidate scored 0.81 < production 0.84", "decision": "kept"},
    )  # fmt: skip
    return {"events": events, "policy": policy, "train": train, "retrain": retrain}
