"""The compiled fast path: pipelines converted to ONNX at training, verified, served by onnxruntime.

Real MLflow store, real skl2onnx and onnxruntime: what a version answers through its graph is
compared with what scikit-learn (the version's pyfunc model) answers on rows it never saw, with a
categorical column and missing values.
"""

from __future__ import annotations

from io import StringIO
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django.test import override_settings
from mlflow import MlflowClient
from sklearn.datasets import load_diabetes, load_iris

from models_api import compiling
from models_api.compiling import PROBABILITY_ATOL, REGRESSION_RTOL, pipeline_compile
from models_api.estimators import CLASSIFICATION, ESTIMATORS, estimator_build
from models_api.pipelines import pipeline_build
from models_api.services import TrainingSpec, model_train
from predictions.models import Prediction
from registry import clients
from registry.compiled import ARTIFACT_PATH, FAST_PATH_TAG
from registry.models import ModelVersion
from registry.serving import model_cache, predict, served_model_get

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clear_serving_caches", "flush_infer_runs")]

# skl2onnx 1.20 fails inside its tree converter on histogram gradient boosting (an attribute of
# booleans where ONNX wants ints): these are served by scikit-learn.
NOT_COMPILED = {"HistGradientBoostingClassifier", "HistGradientBoostingRegressor"}
TINY_PARAMS = {
    "RandomForestClassifier": {"n_estimators": 3, "max_depth": 4},
    "ExtraTreesClassifier": {"n_estimators": 3, "max_depth": 4},
    "GradientBoostingClassifier": {"n_estimators": 3, "max_depth": 2},
    "HistGradientBoostingClassifier": {"max_iter": 3},
    "RandomForestRegressor": {"n_estimators": 3, "max_depth": 4},
    "ExtraTreesRegressor": {"n_estimators": 3, "max_depth": 4},
    "GradientBoostingRegressor": {"n_estimators": 3, "max_depth": 2},
    "HistGradientBoostingRegressor": {"max_iter": 3},
    "LogisticRegression": {"max_iter": 200},
}
SPECIES = np.array(["setosa", "versicolor", "virginica"])


def with_colour_and_gaps(features: pd.DataFrame, *, seed: int) -> pd.DataFrame:
    """Return ``features`` with a categorical column and missing values in a numeric and the categorical one."""
    rng = np.random.default_rng(seed)
    colour = pd.Series(rng.choice(["red", "green", "blue"], len(features)), index=features.index, dtype="str")
    frame = features.assign(colour=colour)
    frame.iloc[::7, 0] = np.nan
    frame.loc[frame.index[3::11], "colour"] = np.nan
    return frame


def training_frame(task: str) -> pd.DataFrame:
    if task == CLASSIFICATION:
        data = load_iris(as_frame=True).frame
        # String labels: a compiled classifier must answer strings, as scikit-learn does.
        target = pd.Series(SPECIES[data["target"].to_numpy()], index=data.index, dtype="str")
        return with_colour_and_gaps(data.drop(columns=["target"]), seed=0).assign(target=target)
    data = load_diabetes(as_frame=True).frame.head(150)
    return with_colour_and_gaps(data.drop(columns=["target"]), seed=0).assign(target=data["target"])


def unseen_rows(task: str, rows: int = 60) -> pd.DataFrame:
    """Rows no model saw: jittered features, other gaps, and a colour that was not in the training data."""
    features = training_frame(task).drop(columns=["target", "colour"]).sample(rows, random_state=1)
    rng = np.random.default_rng(2)
    jittered = features + rng.normal(0, features.std().to_numpy() * 0.2, size=features.shape)
    frame = with_colour_and_gaps(jittered.reset_index(drop=True), seed=3)
    frame.iloc[1::9, 1] = np.nan
    frame.loc[5::13, "colour"] = "purple"
    return frame


def json_records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    return rows.astype(object).where(rows.notna(), None).to_dict(orient="records")


def train(name: str, estimator: str, task: str, **extra: Any) -> str:
    frame = training_frame(task)
    spec = TrainingSpec(
        model_name=name,
        data={"dataframe_split": frame.to_dict(orient="split", index=False)},
        estimator=estimator,
        params=TINY_PARAMS.get(estimator, {}),
        alias=None,
        **extra,
    )
    return model_train(spec=spec).model_version


def fast_path_tag(name: str, version: str) -> str:
    return MlflowClient().get_model_version(name, version).tags.get(FAST_PATH_TAG, "")


def assert_agrees_with_scikit_learn(name: str, version: str, rows: pd.DataFrame, *, task: str) -> None:
    """What the served model answers (its graph) is what the version's scikit-learn pipeline answers."""
    served = served_model_get(name=name, version=version)
    sklearn_model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    expected = np.asarray(sklearn_model.predict(rows))
    has_probabilities = task == CLASSIFICATION

    predicted, probabilities = predict(served, rows, probabilities=has_probabilities)

    if task == CLASSIFICATION:
        assert predicted.tolist() == expected.tolist()
        assert [type(value) for value in predicted.tolist()] == [type(value) for value in expected.tolist()]
        expected_probabilities = sklearn_model.get_raw_model().predict_proba(rows)
        assert probabilities is not None
        np.testing.assert_allclose(probabilities, expected_probabilities, rtol=0, atol=PROBABILITY_ATOL)
    else:
        assert predicted.dtype == expected.dtype == np.float64
        np.testing.assert_allclose(predicted, expected, rtol=REGRESSION_RTOL, atol=REGRESSION_RTOL)


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_every_allowlisted_estimator_is_compiled_and_agrees_with_scikit_learn_or_says_why_not(estimator):
    task = ESTIMATORS[estimator].task
    name = f"fast-{estimator}"

    version = train(name, estimator, task)

    tag = fast_path_tag(name, version)
    served = served_model_get(name=name, version=version)
    assert ModelVersion.objects.get(registered_model_name=name, version=version).fast_path == tag
    if estimator in NOT_COMPILED:
        assert tag.startswith("none: float32: ValueError: Unable to create node 'TreeEnsemble")
        assert served.served_by == "sklearn"
        assert clients.model_artifact_read(name=name, version=version, path=ARTIFACT_PATH) is None
    else:
        assert tag == "onnx"
        assert served.served_by == "onnx"
    assert_agrees_with_scikit_learn(name, version, unseen_rows(task), task=task)


def test_inference_on_a_compiled_version_answers_what_scikit_learn_answers(api_client):
    frame = load_iris(as_frame=True).frame
    data = with_colour_and_gaps(frame.drop(columns=["target"]), seed=0).assign(target=frame["target"])
    spec = TrainingSpec(
        model_name="fast-iris", data={"dataframe_split": data.to_dict(orient="split", index=False)},
        params={"n_estimators": 4, "max_depth": 3},
    )  # fmt: skip
    version = model_train(spec=spec).model_version
    body = {"model_name": "fast-iris", "dataframe_records": json_records(unseen_rows(CLASSIFICATION, rows=25)),
            "return_probabilities": True}  # fmt: skip

    compiled = api_client.post("/inference", body, format="json")
    assert served_model_get(name="fast-iris", version=version).served_by == "onnx"
    with override_settings(MLSERVICE_FAST_PATH=False):
        model_cache.clear()
        plain = api_client.post("/inference", body, format="json")
        assert served_model_get(name="fast-iris", version=version).served_by == "sklearn"

    assert compiled.status_code == plain.status_code == 200, (compiled.content, plain.content)
    answer, expected = compiled.json(), plain.json()
    assert answer["predictions"] == expected["predictions"]
    assert all(type(label) is int for label in answer["predictions"])
    np.testing.assert_allclose(answer["probabilities"], expected["probabilities"], rtol=0, atol=PROBABILITY_ATOL)
    stored = Prediction.objects.filter(request_id=answer["request_id"]).order_by("row_index")
    assert [row.prediction for row in stored] == answer["predictions"]
    assert [row.probabilities for row in stored] == answer["probabilities"]


def test_a_compiled_version_keeps_mlflow_column_and_type_checks(api_client):
    version = train("fast-checks", "RandomForestClassifier", CLASSIFICATION)
    records = json_records(unseen_rows(CLASSIFICATION, rows=2))
    records[0]["petal length (cm)"] = "long"

    response = api_client.post("/inference", {"model_name": "fast-checks", "dataframe_records": records}, format="json")

    assert served_model_get(name="fast-checks", version=version).served_by == "onnx"
    assert response.status_code == 400, response.content
    assert "petal length (cm)" in response.json()["error"]["message"]


def test_a_version_that_does_not_compile_is_trained_and_served_by_scikit_learn_with_the_reason(api_client):
    version = train("fast-hgb", "HistGradientBoostingClassifier", CLASSIFICATION)
    rows = unseen_rows(CLASSIFICATION, rows=10)

    response = api_client.post(
        "/inference",
        {"model_name": "fast-hgb", "dataframe_records": json_records(rows), "return_probabilities": True},
        format="json",
    )

    assert response.status_code == 200, response.content
    tag = fast_path_tag("fast-hgb", version)
    assert tag.startswith("none: ")
    assert "TreeEnsembleClassifier" in tag
    assert ModelVersion.objects.get(registered_model_name="fast-hgb", version=version).fast_path == tag
    assert served_model_get(name="fast-hgb", version=version).served_by == "sklearn"
    expected = mlflow.pyfunc.load_model(f"models:/fast-hgb/{version}").predict(rows)
    assert response.json()["predictions"] == expected.tolist()


def test_fast_path_off_compiles_nothing_and_serves_with_scikit_learn():
    compiled = train("fast-on", "RandomForestClassifier", CLASSIFICATION)
    with override_settings(MLSERVICE_FAST_PATH=False):
        plain = train("fast-off", "RandomForestClassifier", CLASSIFICATION)
        model_cache.clear()

        assert fast_path_tag("fast-off", plain) == "none: switched off at training (MLSERVICE_FAST_PATH=off)"
        # A compiled version too, so a benchmark can compare both paths on one version.
        assert served_model_get(name="fast-on", version=compiled).served_by == "sklearn"


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("compile_models", *args, stdout=out)
    return out.getvalue()


def test_compile_models_compiles_a_version_trained_before_the_fast_path():
    with override_settings(MLSERVICE_FAST_PATH=False):
        version = train("fast-later", "ExtraTreesClassifier", CLASSIFICATION)
    assert served_model_get(name="fast-later", version=version).served_by == "sklearn"
    model_cache.clear()

    dry = run_command("--model", "fast-later", "--dry-run")

    assert f"fast-later v{version}: would compile" in dry
    assert fast_path_tag("fast-later", version).startswith("none: switched off")

    output = run_command("--model", "fast-later", "--version", version)

    assert f"fast-later v{version}: compiled: onnx, float32: predictions identical" in output
    assert fast_path_tag("fast-later", version) == "onnx"
    assert ModelVersion.objects.get(registered_model_name="fast-later", version=version).fast_path == "onnx"
    assert served_model_get(name="fast-later", version=version).served_by == "onnx"
    assert_agrees_with_scikit_learn("fast-later", version, unseen_rows(CLASSIFICATION), task=CLASSIFICATION)
    # The version is still the sklearn-flavored model `mlflow models serve` serves.
    assert mlflow.pyfunc.load_model(f"models:/fast-later/{version}").loader_module == "mlflow.sklearn"
    assert f"fast-later v{version}: skipped: already onnx" in run_command("--model", "fast-later")


def test_compile_models_records_why_a_version_stays_on_scikit_learn():
    with override_settings(MLSERVICE_FAST_PATH=False):
        version = train("fast-later-hgb", "HistGradientBoostingRegressor", "regression")

    output = run_command("--model", "fast-later-hgb")

    assert f"fast-later-hgb v{version}: not compiled: none: float32: ValueError" in output
    assert "TreeEnsembleRegressor" in fast_path_tag("fast-later-hgb", version)


def test_a_graph_that_differs_beyond_the_tolerance_is_refused(monkeypatch):
    frame = training_frame(CLASSIFICATION)
    features, target = frame.drop(columns=["target"]), frame["target"]
    estimator, spec = estimator_build(name="GradientBoostingClassifier", params={"n_estimators": 3}, random_state=0)
    pipeline = pipeline_build(features=features, estimator=estimator, scale=spec.needs_scaling).fit(features, target)
    # float32 probabilities are a few 1e-8 off float64's: no tolerance at all refuses them.
    monkeypatch.setattr(compiling, "PROBABILITY_ATOL", 0.0)

    compiled = pipeline_compile(pipeline=pipeline, rows=unseen_rows(CLASSIFICATION))

    assert compiled.onnx_bytes is None
    assert compiled.tag.startswith("none: float32: probabilities differ by up to ")
