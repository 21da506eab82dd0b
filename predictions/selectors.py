"""Reads of the prediction store."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from django.db.models import Max, QuerySet

from core.filters import filters_apply
from predictions.filters import PredictionFilter
from predictions.models import Prediction


def predictions_list(*, filters: Mapping[str, Any] | None = None) -> QuerySet[Prediction]:
    """Return stored predictions, newest first, narrowed by PredictionFilter's ``filters``."""
    queryset = Prediction.objects.order_by("-id")
    return filters_apply(PredictionFilter, filters, queryset) if filters else queryset


def recent_inputs(*, model_name: str, model_version: str, limit: int) -> pd.DataFrame:
    """Return the inputs of the last ``limit`` stored predictions of a version, as a DataFrame."""
    rows = (
        Prediction.objects.filter(model_name=model_name, model_version=model_version)
        .order_by("-id")
        .values_list("inputs", flat=True)[:limit]
    )
    return pd.DataFrame.from_records(list(rows))


def recent_inputs_with_feedback(*, model_name: str, model_version: str, limit: int) -> tuple[pd.DataFrame, pd.Series]:
    """Return the inputs of the last ``limit`` stored predictions of a version and their ground truth.

    The ground truth is aligned with the inputs' rows, None where no feedback came.
    """
    rows = list(
        Prediction.objects.filter(model_name=model_name, model_version=model_version)
        .order_by("-id")
        .values_list("inputs", "ground_truth")[:limit]
    )
    inputs = pd.DataFrame.from_records([row_inputs for row_inputs, _ in rows])
    return inputs, pd.Series([truth for _, truth in rows], dtype=object)


def latest_prediction_id(*, model_name: str, model_version: str) -> int | None:
    """Return the id of a version's newest stored prediction (an index look-up), or None."""
    return (
        Prediction.objects.filter(model_name=model_name, model_version=model_version)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )


def served_versions() -> list[tuple[str, str]]:
    """Return every (model name, version) that has stored predictions."""
    pairs = (
        Prediction.objects.values_list("model_name", "model_version").distinct().order_by("model_name", "model_version")
    )
    return list(pairs)


def request_rows_stored(*, request_id: Any) -> int:
    """Return how many rows of a request are stored, counted as its highest row index + 1 (an index probe).

    A batch job stores its chunks in row order, one transaction each, so this is where it resumes.
    """
    highest = Prediction.objects.filter(request_id=request_id).aggregate(highest=Max("row_index"))["highest"]
    return 0 if highest is None else highest + 1


# How many of a version's latest predictions with feedback the realized metric is computed on.
FEEDBACK_WINDOW = 1000


@dataclass(frozen=True)
class RealizedPerformance:
    """A version's realized metric on its latest predictions with feedback (ground truth)."""

    metric: str
    value: float | None
    rows: int
    since: datetime | None


def realized_performance(
    *, model_name: str, model_version: str, regression: bool, limit: int = FEEDBACK_WINDOW
) -> RealizedPerformance:
    """Return accuracy (or a regressor's mae) of a version's last ``limit`` predictions with ground truth.

    Read through the prediction_version_feedback partial index: ``limit`` index entries, whatever
    share of the version's rows has feedback.
    """
    rows = list(
        Prediction.objects.filter(model_name=model_name, model_version=model_version, ground_truth_at__isnull=False)
        .order_by("-id")
        .values_list("prediction", "ground_truth", "created_at")[:limit]
    )
    since = rows[-1][2] if rows else None
    if regression:
        errors = [abs(a - b) for a, b in (_numbers(p, t) for p, t, _ in rows) if a is not None and b is not None]
        value = sum(errors) / len(errors) if errors else None
        return RealizedPerformance(metric="mae", value=value, rows=len(errors), since=since)
    matches = [_same(predicted, truth) for predicted, truth, _ in rows]
    value = sum(matches) / len(matches) if matches else None
    return RealizedPerformance(metric="accuracy", value=value, rows=len(matches), since=since)


def _same(predicted: Any, truth: Any) -> bool:
    """Return whether a stored prediction and its ground truth name the same class (1 and "1" do)."""
    return bool(predicted == truth) or str(predicted) == str(truth)


def _numbers(predicted: Any, truth: Any) -> tuple[float | None, float | None]:
    def number(value: Any) -> float | None:
        try:
            result = float(value)
        except (TypeError, ValueError):
            return None
        return result if math.isfinite(result) else None

    return number(predicted), number(truth)
