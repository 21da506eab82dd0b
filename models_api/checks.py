"""System checks of models_api's settings: a mistyped cap must not silently leave a cost unbounded."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error


def check_train_param_caps(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Refuse MLSERVICE_TRAIN_PARAM_CAPS entries that name no allowlisted parameter or aren't positive integers."""
    from models_api.estimators import ESTIMATORS

    caps = settings.MLSERVICE_TRAIN_PARAM_CAPS
    if not isinstance(caps, dict):
        return [Error("MLSERVICE_TRAIN_PARAM_CAPS must be a JSON object of parameter: cap.", id="models_api.E001")]
    known = {key for name, spec in ESTIMATORS.items() for key in spec.build(name).get_params(deep=False)}
    errors: list[CheckMessage] = []
    for key, cap in caps.items():
        if key not in known:
            errors.append(
                Error(f"MLSERVICE_TRAIN_PARAM_CAPS: {key!r} is not a parameter of any allowlisted estimator.",
                      id="models_api.E002")
            )  # fmt: skip
        elif not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
            errors.append(
                Error(f"MLSERVICE_TRAIN_PARAM_CAPS: {key!r} needs a positive integer cap.", id="models_api.E003")
            )
    return errors
