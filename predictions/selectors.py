"""Reads of the prediction store."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from django.db.models import QuerySet

from predictions.models import Prediction


def predictions_filter(
    *,
    model_name: str | None = None,
    model_version: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    has_ground_truth: bool | None = None,
) -> QuerySet[Prediction]:
    """Return stored predictions matching every given filter (newest first)."""
    queryset = Prediction.objects.all()
    if model_name:
        queryset = queryset.filter(model_name=model_name)
    if model_version:
        queryset = queryset.filter(model_version=model_version)
    if since:
        queryset = queryset.filter(created_at__gte=since)
    if until:
        queryset = queryset.filter(created_at__lt=until)
    if has_ground_truth is not None:
        queryset = queryset.filter(ground_truth_at__isnull=not has_ground_truth)
    return queryset.order_by("-id")


def recent_inputs(*, model_name: str, model_version: str, limit: int) -> pd.DataFrame:
    """Return the inputs of the last ``limit`` stored predictions of a version, as a DataFrame."""
    rows = (
        Prediction.objects.filter(model_name=model_name, model_version=model_version)
        .order_by("-id")
        .values_list("inputs", flat=True)[:limit]
    )
    return pd.DataFrame.from_records(list(rows))


def served_versions() -> list[tuple[str, str]]:
    """Return every (model name, version) that has stored predictions."""
    pairs = (
        Prediction.objects.values_list("model_name", "model_version").distinct().order_by("model_name", "model_version")
    )
    return list(pairs)
