"""The drift verdicts people rely on: no alarm on fresh data, the right alarm on real shifts."""

from __future__ import annotations

import pandas as pd
import pytest
from django.test import override_settings
from sklearn.datasets import load_breast_cancer

from drift.models import DriftEvent
from drift.services import DriftCheck, drift_check_run
from tests.drift.data import NUMERIC, synthetic_frame

pytestmark = pytest.mark.django_db


def check(subject: pd.DataFrame, baseline: pd.DataFrame, **options) -> DriftEvent:
    return drift_check_run(
        check=DriftCheck(subject=subject, baseline=baseline, trigger=DriftEvent.Trigger.MANUAL, **options)
    )


def alerted(event: DriftEvent) -> list[str]:
    return sorted(feature["column"] for feature in event.features if feature["alert"])


BASELINE = synthetic_frame(10_000, seed=10).drop(columns=["target"])
DISTANCES = {"continuous": "jensen_shannon", "categorical": "jensen_shannon"}


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_fresh_sample_from_the_training_distribution_is_not_flagged(seed):
    event = check(synthetic_frame(1000, seed=seed).drop(columns=["target"]), BASELINE)

    assert event.status == DriftEvent.Status.COMPLETED
    assert alerted(event) == []
    assert event.drift_detected is False


@pytest.mark.parametrize("method", ["jensen_shannon", "kolmogorov_smirnov", "wasserstein", "hellinger"])
def test_one_feature_shifted_by_one_std_is_flagged_alone(method):
    subject = synthetic_frame(1000, seed=21, shift={"x3": 1.0}).drop(columns=["target"])

    event = check(subject, BASELINE, methods={"continuous": method, "categorical": "jensen_shannon"})

    assert alerted(event) == ["x3"]
    assert event.drift_detected is True
    assert event.drifted_share == pytest.approx(1 / 7)


@pytest.mark.parametrize("method", ["jensen_shannon", "chi2", "l_infinity", "hellinger"])
def test_changed_category_frequencies_are_flagged(method):
    subject = synthetic_frame(1000, seed=31, colours=[0.2, 0.3, 0.5]).drop(columns=["target"])

    event = check(subject, BASELINE, methods={"continuous": "jensen_shannon", "categorical": method})

    assert alerted(event) == ["colour"]


@override_settings(MLSERVICE_DRIFT_MIN_ROWS=40, MLSERVICE_DRIFT_REFERENCE_CHUNKS=5)
def test_bundled_breast_cancer_shift_is_flagged_on_that_feature_only():
    data = load_breast_cancer(as_frame=True).frame.drop(columns=["target"])
    columns = ["mean radius", "mean texture", "mean smoothness", "mean symmetry"]
    baseline = data.sample(frac=0.8, random_state=0)[columns]
    fresh = data.drop(baseline.index)[columns]
    shifted = fresh.assign(**{"mean texture": fresh["mean texture"] + data["mean texture"].std()})

    fresh_event, shifted_event = check(fresh, baseline), check(shifted, baseline)

    assert fresh_event.status == shifted_event.status == DriftEvent.Status.COMPLETED
    assert alerted(fresh_event) == []
    assert alerted(shifted_event) == ["mean texture"]


def test_below_the_minimum_sample_size_there_is_no_verdict():
    event = check(synthetic_frame(8, seed=5).drop(columns=["target"]), BASELINE)

    assert event.status == DriftEvent.Status.INSUFFICIENT_DATA
    assert event.features == []
    assert "at least" in event.message


def test_thresholds_given_in_the_call_replace_the_defaults():
    subject = synthetic_frame(1000, seed=11).drop(columns=["target"])

    event = check(subject, BASELINE, methods=DISTANCES, thresholds={"jensen_shannon": 0.0001})

    assert alerted(event) == sorted([*NUMERIC, "colour"])
    assert {feature["threshold"] for feature in event.features} == {0.0001}
