"""Writes for drift samples."""

from __future__ import annotations

import logging
import uuid

import pandas as pd
from django.db import transaction

from drift import clients
from drift.models import DriftSample
from models_api.models import Run

logger = logging.getLogger(__name__)


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


def drift_sample_frame(*, sample: DriftSample) -> pd.DataFrame:
    """Load a drift sample's rows from storage."""
    return clients.parquet_read(str(sample.file.name))
