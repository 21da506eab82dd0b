"""Every allowlisted estimator trains, logs with skops, registers and loads back."""

from __future__ import annotations

import mlflow
import pytest
from sklearn.datasets import load_diabetes, load_iris

from core.exceptions import InvalidInput
from models_api.estimators import CLASSIFICATION, ESTIMATORS, estimator_build
from models_api.services import TrainingSpec, model_train

# The smallest settings that still train a real model of each kind.
TINY_PARAMS = {
    "RandomForestClassifier": {"n_estimators": 2, "max_depth": 2},
    "ExtraTreesClassifier": {"n_estimators": 2, "max_depth": 2},
    "GradientBoostingClassifier": {"n_estimators": 2, "max_depth": 2},
    "HistGradientBoostingClassifier": {"max_iter": 2},
    "RandomForestRegressor": {"n_estimators": 2, "max_depth": 2},
    "ExtraTreesRegressor": {"n_estimators": 2, "max_depth": 2},
    "GradientBoostingRegressor": {"n_estimators": 2, "max_depth": 2},
    "HistGradientBoostingRegressor": {"max_iter": 2},
    "LogisticRegression": {"max_iter": 200},
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_allowlisted_estimator_logs_and_loads(name):
    spec = ESTIMATORS[name]
    loader = load_iris if spec.task == CLASSIFICATION else load_diabetes
    frame = loader(as_frame=True).frame.head(150 if spec.task == CLASSIFICATION else 120)
    split = {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}

    body = model_train(
        spec=TrainingSpec(
            model_name=f"allowlist-{name}",
            data={"dataframe_split": split},
            estimator=name,
            params=TINY_PARAMS.get(name, {}),
            alias=None,
        )
    )

    model = mlflow.pyfunc.load_model(f"models:/allowlist-{name}/{body.model_version}")
    predictions = model.predict(frame.drop(columns=["target"]).head(5))
    assert len(predictions) == 5


def test_estimator_outside_the_allowlist_is_refused_without_import():
    with pytest.raises(InvalidInput) as caught:
        estimator_build(name="subprocess.Popen", params={}, random_state=0)

    assert caught.value.details == {"estimator": [caught.value.message.removeprefix("estimator: ")]}


def test_invalid_param_value_names_the_param():
    with pytest.raises(InvalidInput) as caught:
        estimator_build(name="Ridge", params={"alpha": "a lot"}, random_state=0)

    assert "params.alpha" in caught.value.details


def test_random_state_is_passed_when_the_estimator_takes_one():
    estimator, _ = estimator_build(name="RandomForestClassifier", params={}, random_state=7)

    assert estimator.random_state == 7
