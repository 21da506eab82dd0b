"""Model quality metrics, shared by training's validation split and evaluation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from models_api.estimators import CLASSIFICATION


def metrics_compute(*, model: Any, features: pd.DataFrame, target: pd.Series, task: str) -> dict[str, float]:
    """Return classification or regression metrics of ``model`` on (features, target)."""
    if task == CLASSIFICATION:
        return _classification_metrics(model, features, target)
    return _regression_metrics(model, features, target)


def _classification_metrics(model: Any, features: pd.DataFrame, target: pd.Series) -> dict[str, float]:
    from sklearn import metrics

    predicted = model.predict(features)
    result = {
        "accuracy": metrics.accuracy_score(target, predicted),
        "precision_macro": metrics.precision_score(target, predicted, average="macro", zero_division=0),
        "recall_macro": metrics.recall_score(target, predicted, average="macro", zero_division=0),
        "f1_macro": metrics.f1_score(target, predicted, average="macro", zero_division=0),
    }
    if hasattr(model, "predict_proba"):
        result.update(_probability_metrics(model, features, target))
    return _finite(result)


def _probability_metrics(model: Any, features: pd.DataFrame, target: pd.Series) -> dict[str, float]:
    """Return roc_auc and log_loss; roc_auc only when every class the model knows is present."""
    from sklearn import metrics

    probabilities = model.predict_proba(features)
    classes = list(model.classes_)
    result = {"log_loss": metrics.log_loss(target, probabilities, labels=classes)}
    if set(np.unique(target)) == set(classes) and len(classes) > 1:
        if len(classes) == 2:
            result["roc_auc"] = metrics.roc_auc_score(target, probabilities[:, 1])
        else:
            result["roc_auc"] = metrics.roc_auc_score(target, probabilities, multi_class="ovr", labels=classes)
    return result


def _regression_metrics(model: Any, features: pd.DataFrame, target: pd.Series) -> dict[str, float]:
    from sklearn import metrics

    predicted = model.predict(features)
    result = {
        "rmse": metrics.root_mean_squared_error(target, predicted),
        "mae": metrics.mean_absolute_error(target, predicted),
    }
    if len(target) > 1:
        result["r2"] = metrics.r2_score(target, predicted)
    return _finite(result)


def _finite(values: dict[str, Any]) -> dict[str, float]:
    """Return the metrics as floats, dropping undefined (NaN) ones, which JSON and MLflow refuse."""
    return {key: float(value) for key, value in values.items() if math.isfinite(float(value))}
