"""The mirrors of MLflow: runs the service starts and the versions it registers."""

from __future__ import annotations

from django.db import models

from core.models import TimeStampedModel


class Run(TimeStampedModel):
    """A run this service started in MLflow, mirrored for the admin and for failure forensics."""

    class Kind(models.TextChoices):
        TRAIN = "train", "train"
        INFER = "infer", "infer"
        EVAL = "eval", "eval"
        DRIFT = "drift", "drift"

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    run_name = models.CharField(max_length=200, unique=True)
    mlflow_run_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    mlflow_experiment_id = models.CharField(max_length=64, blank=True, default="")
    registered_model_name = models.CharField(max_length=100, blank=True, default="")
    model_version = models.CharField(max_length=20, blank=True, default="")
    params = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # The job a training ran in: a job stopped at its time limit fails the runs it left open.
    job_id = models.UUIDField(null=True, blank=True, db_index=True)

    class Meta:
        # The table kept its name when the model moved here from models_api.
        db_table = "models_api_run"
        ordering = ["-started_at"]
        indexes = [
            # The admin's default list: newest first, filtered by kind and status.
            models.Index(fields=["kind", "status", "-started_at"], name="run_kind_status_started"),
            # "Runs of this model": admin filter and retraining look-ups.
            models.Index(fields=["registered_model_name", "model_version"], name="run_model_version"),
            # The admin's unfiltered run list, newest first (-id is its tie-break): without it every
            # page sorted the whole table (58 ms at 100,000 runs, and runs grow with traffic).
            models.Index(fields=["-started_at", "-id"], name="run_started"),
        ]

    def __str__(self) -> str:
        return self.run_name


class ModelVersion(TimeStampedModel):
    """A registered version as this service knows it: a mirror of MLflow's registry for operators."""

    registered_model_name = models.CharField(max_length=100)
    version = models.CharField(max_length=20)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    drift_sample_id = models.UUIDField(null=True, blank=True)
    estimator = models.CharField(max_length=100, blank=True, default="")
    aliases = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    # The version's mlservice.fast_path tag: "onnx" (served by onnxruntime) or "none: <reason>".
    fast_path = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        permissions = [
            ("set_alias", "Can point aliases at versions and remove them (promotion)"),
        ]
        db_table = "models_api_modelversion"
        ordering = ["registered_model_name", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["registered_model_name", "version"], name="modelversion_name_version_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.registered_model_name} v{self.version}"
