"""The allowlist of scikit-learn estimators the service trains, and their parameter checks.

Only these classes can be built from a request: a name is looked up here, never imported.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core.exceptions import InvalidInput

CLASSIFICATION = "classification"
REGRESSION = "regression"


@dataclass(frozen=True)
class EstimatorSpec:
    """An allowlisted estimator: where it lives, its task, and whether it wants scaled inputs."""

    module: str
    task: str
    needs_scaling: bool = False

    def build(self, name: str) -> Any:
        """Return a new instance with default parameters."""
        return getattr(importlib.import_module(self.module), name)()


ESTIMATORS: dict[str, EstimatorSpec] = {
    # Classifiers
    "LogisticRegression": EstimatorSpec("sklearn.linear_model", CLASSIFICATION, needs_scaling=True),
    "RandomForestClassifier": EstimatorSpec("sklearn.ensemble", CLASSIFICATION),
    "ExtraTreesClassifier": EstimatorSpec("sklearn.ensemble", CLASSIFICATION),
    "GradientBoostingClassifier": EstimatorSpec("sklearn.ensemble", CLASSIFICATION),
    "HistGradientBoostingClassifier": EstimatorSpec("sklearn.ensemble", CLASSIFICATION),
    "DecisionTreeClassifier": EstimatorSpec("sklearn.tree", CLASSIFICATION),
    "KNeighborsClassifier": EstimatorSpec("sklearn.neighbors", CLASSIFICATION, needs_scaling=True),
    # Regressors
    "LinearRegression": EstimatorSpec("sklearn.linear_model", REGRESSION, needs_scaling=True),
    "Ridge": EstimatorSpec("sklearn.linear_model", REGRESSION, needs_scaling=True),
    "Lasso": EstimatorSpec("sklearn.linear_model", REGRESSION, needs_scaling=True),
    "RandomForestRegressor": EstimatorSpec("sklearn.ensemble", REGRESSION),
    "ExtraTreesRegressor": EstimatorSpec("sklearn.ensemble", REGRESSION),
    "GradientBoostingRegressor": EstimatorSpec("sklearn.ensemble", REGRESSION),
    "HistGradientBoostingRegressor": EstimatorSpec("sklearn.ensemble", REGRESSION),
    "DecisionTreeRegressor": EstimatorSpec("sklearn.tree", REGRESSION),
}

# Parameters that would let a request run code or hand over objects: never settable over the API.
FORBIDDEN_PARAMS = frozenset({"estimator", "base_estimator", "memory", "callbacks"})

# Caps on the parameters that set a training's cost, so that one request can't hold a worker for
# hours (MLSERVICE_TRAIN_PARAM_CAPS overrides them by name). An estimator whose default leaves the
# parameter unbounded (max_depth=None) is trained at the cap.
DEFAULT_PARAM_CAPS: dict[str, int] = {
    "n_estimators": 1000,
    "max_iter": 10_000,
    "max_depth": 100,
    "max_leaf_nodes": 10_000,
    "n_neighbors": 1000,
}
UNBOUNDED_BY_DEFAULT = ("max_depth",)


def estimator_build(*, name: str, params: dict[str, Any], random_state: int | None) -> tuple[Any, EstimatorSpec]:
    """Return an allowlisted estimator configured with ``params``, or raise InvalidInput naming the fault."""
    spec = ESTIMATORS.get(name)
    if spec is None:
        raise InvalidInput.for_field(
            "estimator", f"unknown estimator {name!r}; allowed: {', '.join(sorted(ESTIMATORS))}."
        )
    estimator = spec.build(name)
    accepted = set(estimator.get_params(deep=False)) - FORBIDDEN_PARAMS
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise InvalidInput(
            f"params: unknown parameter(s) {', '.join(unknown)} for {name}.",
            details={f"params.{key}": [f"not a parameter of {name}"] for key in unknown},
        )
    values = dict(params)
    if random_state is not None and "random_state" in accepted:
        values.setdefault("random_state", random_state)
    estimator.set_params(**values)
    _validate_values(estimator, name=name, params=params)
    _check_caps(estimator, params=params)
    return estimator, spec


def param_caps() -> dict[str, int]:
    """Return the cost caps in force: the defaults with MLSERVICE_TRAIN_PARAM_CAPS applied."""
    return {**DEFAULT_PARAM_CAPS, **settings.MLSERVICE_TRAIN_PARAM_CAPS}


def cpu_count() -> int:
    """Return the CPUs this process may run on (a container's or taskset's limit, not the host's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _check_caps(estimator: Any, *, params: dict[str, Any]) -> None:
    """Refuse a parameter over its cap (400 naming it and the cap); train unbounded defaults at the cap."""
    current = estimator.get_params(deep=False)
    over: dict[str, list[str]] = {}
    for key, cap in param_caps().items():
        if key not in current:
            continue
        value = current[key]
        if value is None and key in UNBOUNDED_BY_DEFAULT and key not in params:
            estimator.set_params(**{key: cap})
        elif _is_number(value) and value > cap:
            over[f"params.{key}"] = [f"{value} is over the cap of {cap} (MLSERVICE_TRAIN_PARAM_CAPS)."]
    over.update(_check_n_jobs(current.get("n_jobs")))
    over.update(_check_max_samples(current.get("max_samples")))
    if over:
        field, reasons = next(iter(over.items()))
        raise InvalidInput(f"{field}: {reasons[0]}", details=over)


def _check_n_jobs(value: Any) -> dict[str, list[str]]:
    cpus = cpu_count()
    if _is_number(value) and value > cpus:
        return {"params.n_jobs": [f"{value} is over the cap of {cpus} (the worker's CPUs); use -1 for all of them."]}
    return {}


def _check_max_samples(value: Any) -> dict[str, list[str]]:
    limit = settings.MLSERVICE_MAX_TRAIN_ROWS
    if isinstance(value, int) and not isinstance(value, bool) and value > limit:
        return {"params.max_samples": [f"{value} is over the cap of {limit} (MLSERVICE_MAX_TRAIN_ROWS)."]}
    return {}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _validate_values(estimator: Any, *, name: str, params: dict[str, Any]) -> None:
    """Check parameter values with scikit-learn's own constraints before any data is touched."""
    from sklearn.utils._param_validation import InvalidParameterError

    try:
        # scikit-learn's declared constraints; the same check fit() runs first.
        estimator._validate_params()
    except InvalidParameterError as exc:
        key = next((key for key in params if f"'{key}'" in str(exc)), None)
        field = f"params.{key}" if key else "params"
        raise InvalidInput(f"{field}: {exc}", details={field: [str(exc)]}) from exc
