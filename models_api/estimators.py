"""The allowlist of scikit-learn estimators the service trains, and their parameter checks.

Only these classes can be built from a request: a name is looked up here, never imported.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

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
    return estimator, spec


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
