"""The preprocessing pipeline logged with every model, so inference takes raw columns."""

from __future__ import annotations

from typing import Any

import pandas as pd


def column_kinds(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Return (numeric, categorical) column names; booleans, strings and categories are categorical."""
    numeric = [
        column
        for column in frame.columns
        if pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column])
    ]
    categorical = [column for column in frame.columns if column not in numeric]
    return numeric, categorical


def pipeline_build(*, features: pd.DataFrame, estimator: Any, scale: bool) -> Any:
    """Return imputation + one-hot encoding (+ scaling when the estimator needs it) + the estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric, categorical = column_kinds(features)
    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    categorical_steps = [
        ("impute", SimpleImputer(strategy="most_frequent")),
        # Dense output: histogram gradient boosting refuses sparse input.
        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    ]
    transformers = []
    if numeric:
        transformers.append(("numeric", Pipeline(numeric_steps), numeric))
    if categorical:
        transformers.append(("categorical", Pipeline(categorical_steps), categorical))
    preprocess = ColumnTransformer(transformers, remainder="drop")
    return Pipeline([("preprocess", preprocess), ("model", estimator)])
