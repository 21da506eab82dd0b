"""Reads of the prediction store."""

from __future__ import annotations

from datetime import datetime

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
