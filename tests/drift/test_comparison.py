"""Drift verdicts at small sizes: two-sample tests, the family-wise false-alarm rate, data quality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from django.test import override_settings
from scipy import stats

from drift.comparison import BONFERRONI, CHI2_TEST, KS_TEST, category_table, drift_compare
from tests.drift.data import NUMERIC, synthetic_frame


def frame(rows: int, seed: int, **options) -> pd.DataFrame:
    return synthetic_frame(rows, seed=seed, **options).drop(columns=["target"])


def alerted(result) -> list[str]:
    return sorted(feature.column for feature in result.features if feature.alert)


SMALL_BASELINE = frame(300, seed=100)


def test_same_distribution_small_sample_is_not_flagged():
    result = drift_compare(baseline=SMALL_BASELINE, subject=frame(200, seed=101))

    assert result.status == "completed"
    assert result.drift_detected is False
    assert {feature.method for feature in result.features} == {KS_TEST, CHI2_TEST}
    assert all(feature.p_value is not None and feature.threshold is None for feature in result.features)
    assert "Benjamini-Hochberg" in result.rule


def test_one_sd_shift_in_200_rows_is_flagged_on_that_column_alone():
    result = drift_compare(baseline=SMALL_BASELINE, subject=frame(200, seed=102, shift={"x3": 1.0}))

    assert result.drift_detected is True
    assert alerted(result) == ["x3"]
    assert result.drifted_share == pytest.approx(1 / 7)


def test_category_mix_change_in_200_rows_is_flagged():
    result = drift_compare(baseline=SMALL_BASELINE, subject=frame(200, seed=103, colours=[0.2, 0.3, 0.5]))

    assert alerted(result) == ["colour"]


def test_sixty_rows_shifted_by_two_sd_get_a_verdict():
    result = drift_compare(baseline=SMALL_BASELINE, subject=frame(60, seed=104, shift={"x1": 2.0}))

    assert result.status == "completed"
    assert alerted(result) == ["x1"]


def test_eight_rows_are_insufficient_data():
    result = drift_compare(baseline=SMALL_BASELINE, subject=frame(8, seed=105))

    assert result.status == "insufficient_data"
    assert result.features == []
    assert "at least 30 rows" in result.message


@pytest.mark.parametrize("correction", ["benjamini_hochberg", BONFERRONI])
def test_false_alarm_rate_over_null_samples_stays_within_the_binomial_bound_of_alpha(correction):
    trials, alpha = 300, 0.05
    alarms = sum(
        drift_compare(
            baseline=frame(300, seed=1000 + trial), subject=frame(200, seed=5000 + trial), correction=correction
        ).drift_detected
        for trial in range(trials)
    )

    # One-sided: a rate at alpha exceeds this count in 1 run of 1,000.
    assert alarms <= stats.binom.ppf(0.999, trials, alpha)


def test_bonferroni_is_stricter_than_benjamini_hochberg_on_the_same_p_values():
    subject = frame(200, seed=106, shift={"x0": 0.35, "x1": 0.35, "x2": 0.35})
    bh = drift_compare(baseline=SMALL_BASELINE, subject=subject)
    bonferroni = drift_compare(baseline=SMALL_BASELINE, subject=subject, correction=BONFERRONI)

    pairs = zip(bh.features, bonferroni.features, strict=True)
    assert [a.p_value for a, _ in pairs] == [b.p_value for b in bonferroni.features]
    assert all(b.adjusted_p_value >= a.adjusted_p_value for a, b in zip(bh.features, bonferroni.features, strict=True))
    assert "Bonferroni" in bonferroni.rule


def test_rare_categories_are_pooled_until_expected_counts_reach_five():
    baseline = pd.Series(["a"] * 60 + ["b"] * 30 + ["c"] * 2 + ["d"] * 1)
    subject = pd.Series(["a"] * 20 + ["b"] * 10 + ["e"] * 1)

    table = category_table(baseline, subject)

    expected = stats.contingency.expected_freq(table)
    assert table.sum() == len(baseline) + len(subject)
    assert expected.min() >= 5
    assert table.shape == (2, 2)


def test_missing_values_are_left_out_of_the_test_and_their_rate_is_compared():
    baseline = frame(400, seed=107)
    subject = frame(200, seed=108)
    subject.loc[subject.index[:60], "x2"] = np.nan

    result = drift_compare(baseline=baseline, subject=subject)

    x2 = next(quality for quality in result.data_quality if quality.column == "x2")
    assert alerted(result) == []
    assert x2.missing_baseline == 0.0
    assert x2.missing_subject == pytest.approx(0.3)
    assert x2.alert is True
    assert "missing rate" in x2.reasons[0]
    assert result.data_quality_alert is True
    assert not any(quality.alert for quality in result.data_quality if quality.column != "x2")


def test_unseen_categories_are_reported_and_alert_when_frequent():
    subject = frame(200, seed=109)
    subject.loc[subject.index[:30], "colour"] = "purple"

    result = drift_compare(baseline=SMALL_BASELINE, subject=subject)

    colour = next(quality for quality in result.data_quality if quality.column == "colour")
    assert colour.unseen_categories == ["purple"]
    assert colour.unseen_share == pytest.approx(0.15)
    assert colour.alert is True


def test_fresh_data_raises_no_data_quality_alert():
    result = drift_compare(baseline=SMALL_BASELINE, subject=frame(200, seed=110))

    assert result.data_quality_alert is False
    assert {quality.column for quality in result.data_quality} == {*NUMERIC, "colour"}


@override_settings(MLSERVICE_DRIFT_DISTANCE_MIN_ROWS=2000)
def test_from_the_crossover_on_auto_uses_calibrated_distances():
    result = drift_compare(baseline=frame(6000, seed=111), subject=frame(2000, seed=112, shift={"x4": 0.5}))

    assert {feature.method for feature in result.features} == {"jensen_shannon"}
    assert all(feature.threshold is not None and feature.p_value is None for feature in result.features)
    assert alerted(result) == ["x4"]
    assert "calibrated" in result.rule


def test_a_named_distance_on_a_baseline_too_small_to_calibrate_says_why():
    result = drift_compare(baseline=SMALL_BASELINE, subject=frame(200, seed=113), methods={"continuous": "wasserstein"})

    assert result.status == "insufficient_data"
    assert "wasserstein" in result.message
    assert "auto" in result.message


def test_named_tests_work_beside_named_distances():
    result = drift_compare(
        baseline=frame(2000, seed=114),
        subject=frame(300, seed=115, shift={"x5": 1.0}),
        methods={"continuous": KS_TEST, "categorical": "hellinger"},
    )

    assert {(feature.kind, feature.method) for feature in result.features} == {
        ("continuous", KS_TEST),
        ("categorical", "hellinger"),
    }
    assert alerted(result) == ["x5"]
