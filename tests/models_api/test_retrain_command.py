"""``manage.py retrain`` on real PostgreSQL, MLflow and storage."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from mlflow import MlflowClient

from drift.models import DriftEvent
from models_api.services import TrainingSpec, model_train

pytestmark = pytest.mark.django_db


def concept(rows: int, *, seed: int, rule: str, noise: float = 0.0) -> pd.DataFrame:
    """x0..x3 standard normal; target by ``rule`` ("sum": x0 + x1 > 0, "diff": x0 - x1 > 0), some labels flipped."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 4)), columns=["x0", "x1", "x2", "x3"])
    signal = frame["x0"] + frame["x1"] if rule == "sum" else frame["x0"] - frame["x1"]
    target = (signal > 0).astype(int)
    flip = rng.random(rows) < noise
    frame["target"] = np.where(flip, 1 - target, target)
    return frame


def put(datasets_dir: Path, name: str, frame: pd.DataFrame) -> str:
    path = datasets_dir / "retrain" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return f"retrain/{name}"


def production(model_name: str, datasets_dir: Path) -> str:
    uri = put(datasets_dir, f"{model_name}-original.csv", concept(3000, seed=1, rule="sum"))
    spec = TrainingSpec(model_name=model_name, data={"uri": uri}, params={"n_estimators": 5, "max_depth": 4})
    return model_train(spec=spec).model_version


def record_drift_event(model_name: str, version: str, *, drifted: bool) -> None:
    DriftEvent.objects.create(
        registered_model_name=model_name,
        model_version=version,
        trigger=DriftEvent.Trigger.MONITORING,
        baseline_kind=DriftEvent.Baseline.DRIFT_SAMPLE,
        baseline_rows=300,
        subject_rows=300,
        drift_detected=drifted,
    )


def production_version(model_name: str) -> str:
    return str(MlflowClient().get_model_version_by_alias(model_name, "production").version)


def retrain(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("retrain", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_retrain_on_shifted_data_promotes_the_better_candidate(datasets_dir):
    original = production("retrain-shift", datasets_dir)
    shifted = put(datasets_dir, "shifted.csv", concept(2000, seed=2, rule="diff"))

    table = retrain("--model", "retrain-shift", "--data", shifted, "--promote")

    assert "promoted" in table
    promoted = production_version("retrain-shift")
    assert promoted != original
    assert MlflowClient().get_model_version("retrain-shift", promoted).tags["retrained_from"] == original


def test_retrain_keeps_production_when_the_candidate_is_worse(datasets_dir):
    original = production("retrain-worse", datasets_dir)
    noisy = put(datasets_dir, "noisy.csv", concept(120, seed=3, rule="sum", noise=0.45))

    table = retrain("--model", "retrain-worse", "--data", noisy, "--promote")

    row = next(line for line in table.splitlines() if line.startswith("retrain-worse"))
    assert " kept " in row
    assert "candidate is worse" in row
    assert production_version("retrain-worse") == original


def test_retrain_without_data_reuses_the_recorded_dataset(datasets_dir):
    production("retrain-again", datasets_dir)

    table = retrain("--model", "retrain-again")

    assert " trained " in next(line for line in table.splitlines() if line.startswith("retrain-again"))
    assert len(MlflowClient().search_model_versions("name='retrain-again'")) == 2


def test_dry_run_changes_nothing(datasets_dir):
    original = production("retrain-dry", datasets_dir)
    shifted = put(datasets_dir, "dry.csv", concept(500, seed=4, rule="diff"))

    table = retrain("--model", "retrain-dry", "--data", shifted, "--promote", "--dry-run")

    assert "dry-run" in table
    assert "would retrain RandomForestClassifier" in table
    assert len(MlflowClient().search_model_versions("name='retrain-dry'")) == 1
    assert production_version("retrain-dry") == original


def test_a_failing_retrain_promotes_nothing_and_exits_non_zero(datasets_dir):
    original = production("retrain-fail", datasets_dir)
    broken = put(datasets_dir, "no-target.csv", concept(500, seed=5, rule="diff").drop(columns=["target"]))

    with pytest.raises(CommandError, match="retrain-fail"):
        retrain("--model", "retrain-fail", "--data", broken, "--promote")

    assert production_version("retrain-fail") == original
    assert len(MlflowClient().search_model_versions("name='retrain-fail'")) == 1


def test_if_drifted_skips_versions_without_drift(datasets_dir):
    original = production("retrain-calm", datasets_dir)
    record_drift_event("retrain-calm", original, drifted=False)

    table = retrain("--model", "retrain-calm", "--if-drifted", "--promote")

    assert "no drift detected" in table
    assert len(MlflowClient().search_model_versions("name='retrain-calm'")) == 1


def test_if_drifted_retrains_a_drifted_version(datasets_dir):
    original = production("retrain-drifted", datasets_dir)
    record_drift_event("retrain-drifted", original, drifted=True)

    table = retrain("--model", "retrain-drifted", "--if-drifted")

    assert " trained " in table


def test_a_model_without_production_is_skipped(iris_model):
    model_train(
        spec=TrainingSpec(model_name="retrain-noprod", data={"builtin": "iris"}, params={"n_estimators": 2}, alias=None)
    )

    assert "no production version" in retrain("--model", "retrain-noprod")
