"""Drift samples: training rows set aside for drift checks, kept in object storage."""

from __future__ import annotations

import uuid

from django.core.files.storage import Storage, storages
from django.db import models

from mlservice.models import TimeStampedModel


def drift_samples_storage() -> Storage:
    """Return the storage drift samples live in (a named callable: migrations can't serialise a lambda)."""
    return storages["drift_samples"]


class DriftSample(TimeStampedModel):
    """A random slice of a training set, kept aside as the baseline of a model version's drift checks."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    file = models.FileField(storage=drift_samples_storage, max_length=300)
    rows = models.PositiveIntegerField()
    columns = models.JSONField(default=list)
    dtypes = models.JSONField(default=dict)
    target = models.CharField(max_length=200, blank=True, default="")
    registered_model_name = models.CharField(max_length=100)
    # Empty until the model version that owns the sample is registered.
    model_version = models.CharField(max_length=20, blank=True, default="")
    run = models.ForeignKey("models_api.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The baseline look-up of a drift check: the sample of (model, version).
            models.Index(fields=["registered_model_name", "model_version"], name="driftsample_model_version"),
        ]

    def __str__(self) -> str:
        version = self.model_version or "?"
        return f"{self.registered_model_name} v{version} ({self.rows} rows)"
