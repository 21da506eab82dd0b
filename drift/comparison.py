"""The statistics of one drift check, without the database: subject against baseline, column by column.

Two families of methods, chosen per column by ``"auto"`` from the sample sizes:

- Small samples: two-sample tests with p-values (scipy): Kolmogorov-Smirnov for continuous columns,
  a chi-square test of homogeneity on the contingency table for categorical ones, rare categories
  pooled so that every expected count is at least ``MIN_EXPECTED_COUNT``. The family of columns is
  corrected (Benjamini-Hochberg, or Bonferroni) at ``alpha``: under no drift at all, the chance that
  any column alerts stays at or below ``alpha`` however many columns there are.
- Large samples, where a test flags shifts too small to matter (the KS critical value at 10,000
  rows a side is ~0.019): nannyml's distances with thresholds calibrated on the baseline
  (``drift.clients.univariate_drift``).

``"auto"`` uses the tests below ``MLSERVICE_DRIFT_DISTANCE_MIN_ROWS`` rows on the smaller side and
the distances from there on (the crossover is measured by bench/drift_quality.py; README, "Drift").
Missing values are left out of both; their rate is compared under data quality, with unseen
categories.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings

from drift.clients import CATEGORICAL_METHODS, CONTINUOUS_METHODS, FeatureDrift, univariate_drift


def _stats() -> Any:
    """Return scipy.stats, imported at the first test: ~50 MiB that a web worker which never checks drift saves."""
    from scipy import stats

    return stats


AUTO = "auto"
KS_TEST = "ks_test"
CHI2_TEST = "chi2_test"
CONTINUOUS_CHOICES = (AUTO, KS_TEST, *CONTINUOUS_METHODS)
CATEGORICAL_CHOICES = (AUTO, CHI2_TEST, *CATEGORICAL_METHODS)
TEST_METHODS = (KS_TEST, CHI2_TEST)
# What "auto" uses from MLSERVICE_DRIFT_DISTANCE_MIN_ROWS rows on: Jensen-Shannon raised the fewest
# false alarms of nannyml's distances with calibrated thresholds (README, "Drift").
AUTO_DISTANCE = "jensen_shannon"
BENJAMINI_HOCHBERG = "benjamini_hochberg"
BONFERRONI = "bonferroni"
CORRECTIONS = (BENJAMINI_HOCHBERG, BONFERRONI)
DEFAULT_ALPHA = 0.05
# Cochran's rule for the chi-square approximation.
MIN_EXPECTED_COUNT = 5.0
POOLED = "<other>"
PERMUTATION_BELOW_ROWS = 100
PERMUTATIONS = 999
PERMUTATION_SEED = 0
# A missing-value rate that moved by less than this is not worth an alert, however significant.
MISSING_RATE_MIN_CHANGE = 0.01
UNSEEN_LISTED = 10


@dataclass(frozen=True)
class ColumnQuality:
    """Missing values and unseen categories of one column, subject against baseline."""

    column: str
    missing_baseline: float
    missing_subject: float
    missing_p_value: float | None
    unseen_categories: list[str]
    unseen_share: float
    expected_unseen_share: float | None
    unseen_p_value: float | None
    alert: bool = False
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing a subject with a baseline."""

    status: str
    features: list[FeatureDrift]
    data_quality: list[ColumnQuality]
    drift_detected: bool
    drifted_share: float
    rule: str
    message: str = ""
    chunk_size: int | None = None

    @property
    def data_quality_alert(self) -> bool:
        return any(column.alert for column in self.data_quality)


COMPLETED = "completed"
INSUFFICIENT_DATA = "insufficient_data"


def drift_compare(
    *,
    baseline: pd.DataFrame,
    subject: pd.DataFrame,
    columns: list[str] | None = None,
    methods: dict[str, str] | None = None,
    thresholds: dict[str, Any] | None = None,
    alpha: float = DEFAULT_ALPHA,
    correction: str = BENJAMINI_HOCHBERG,
    reference_key: Hashable | None = None,
) -> Comparison:
    """Compare ``subject`` with ``baseline`` on ``columns`` (default: the baseline's) and give a verdict.

    Columns missing on either side must have been rejected by the caller.
    """
    columns = list(columns if columns is not None else baseline.columns)
    continuous = [column for column in columns if is_continuous(baseline[column])]
    categorical = [column for column in columns if column not in continuous]
    chosen = methods_resolve(methods or {}, subject_rows=len(subject), baseline_rows=len(baseline))
    short = _shortfall(chosen, subject_rows=len(subject), baseline_rows=len(baseline))
    if short:
        return Comparison(INSUFFICIENT_DATA, [], [], False, 0.0, "", message=short)
    tested = _tested_features(baseline, subject, continuous, categorical, chosen)
    measured, chunk_size = _measured_features(
        baseline, subject, continuous, categorical, chosen, thresholds or {}, reference_key
    )
    features = _corrected(tested, alpha=alpha, correction=correction) + measured
    features.sort(key=lambda feature: columns.index(feature.column))
    alerted = sum(feature.alert for feature in features)
    return Comparison(
        status=COMPLETED,
        features=features,
        data_quality=data_quality_compare(baseline, subject, columns, categorical, alpha=alpha, correction=correction),
        drift_detected=alerted > 0,
        drifted_share=alerted / len(features) if features else 0.0,
        rule=_rule(features, alpha=alpha, correction=correction),
        chunk_size=chunk_size,
    )


def is_continuous(series: pd.Series) -> bool:
    """Return whether a column is compared as continuous (numbers, not booleans)."""
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def methods_resolve(methods: dict[str, str], *, subject_rows: int, baseline_rows: int) -> dict[str, str]:
    """Return the method per kind, with ``"auto"`` replaced by a test or a distance by sample size."""
    large = min(subject_rows, baseline_rows) >= settings.MLSERVICE_DRIFT_DISTANCE_MIN_ROWS
    chosen = {"continuous": methods.get("continuous", AUTO), "categorical": methods.get("categorical", AUTO)}
    if chosen["continuous"] == AUTO:
        chosen["continuous"] = AUTO_DISTANCE if large else KS_TEST
    if chosen["categorical"] == AUTO:
        chosen["categorical"] = AUTO_DISTANCE if large else CHI2_TEST
    return chosen


def _shortfall(chosen: dict[str, str], *, subject_rows: int, baseline_rows: int) -> str:
    """Return why there can be no verdict at these sizes, or "" when there can."""
    need = settings.MLSERVICE_DRIFT_MIN_ROWS
    if min(subject_rows, baseline_rows) < need:
        return (
            f"A verdict needs at least {need} rows on each side; "
            f"got {subject_rows} (data) and {baseline_rows} (baseline)."
        )
    if set(chosen.values()) <= set(TEST_METHODS):
        return ""
    chunks = settings.MLSERVICE_DRIFT_REFERENCE_CHUNKS
    if (baseline_rows // 2) // chunks < need:
        return (
            f"The distance method(s) {', '.join(sorted(set(chosen.values()) - set(TEST_METHODS)))} calibrate their "
            f"thresholds on the baseline and need at least {2 * need * chunks} baseline rows (half to fit, half in "
            f'{chunks} chunks of {need}); got {baseline_rows}. Use "auto", {KS_TEST} or {CHI2_TEST}.'
        )
    return ""


# --- Tests (p-values) -----------------------------------------------------------------------------


def _tested_features(
    baseline: pd.DataFrame,
    subject: pd.DataFrame,
    continuous: list[str],
    categorical: list[str],
    chosen: dict[str, str],
) -> list[FeatureDrift]:
    """Return uncorrected test results for the columns whose method is a test."""
    results = []
    if chosen["continuous"] == KS_TEST:
        results += [_ks_test(column, baseline[column], subject[column]) for column in continuous]
    if chosen["categorical"] == CHI2_TEST:
        results += [_chi2_test(column, baseline[column], subject[column]) for column in categorical]
    return results


def _ks_test(column: str, baseline: pd.Series, subject: pd.Series) -> FeatureDrift:
    left, right = baseline.dropna().to_numpy(dtype=float), subject.dropna().to_numpy(dtype=float)
    if len(left) == 0 or len(right) == 0:
        return FeatureDrift(column, "continuous", KS_TEST, value=None, alert=False, p_value=None)
    result = _stats().ks_2samp(left, right)
    return FeatureDrift(column, "continuous", KS_TEST, value=float(result.statistic), alert=False,
                        p_value=float(result.pvalue))  # fmt: skip


def _chi2_test(column: str, baseline: pd.Series, subject: pd.Series) -> FeatureDrift:
    table = category_table(baseline, subject)
    if table.shape[1] < 2:
        # One category (after pooling) on both sides: the mix cannot differ.
        return FeatureDrift(column, "categorical", CHI2_TEST, value=0.0, alert=False, p_value=1.0)
    if table.sum(axis=1).min() < PERMUTATION_BELOW_ROWS:
        # The chi-square approximation runs slightly liberal on a few dozen rows (5.4% at 0.05 on 30 rows,
        # measured): there the p-value comes from permutations of the rows instead.
        method = _stats().PermutationMethod(n_resamples=PERMUTATIONS, rng=PERMUTATION_SEED)
        result = _stats().chi2_contingency(table.astype(np.int64), correction=False, method=method)
    else:
        result = _stats().chi2_contingency(table)
    return FeatureDrift(column, "categorical", CHI2_TEST, value=float(result.statistic), alert=False,
                        p_value=float(result.pvalue))  # fmt: skip


def category_table(baseline: pd.Series, subject: pd.Series) -> np.ndarray:
    """Return the 2 x k table of category counts, rare categories pooled until every expected count is >= 5."""
    counts = pd.DataFrame(
        {"baseline": _as_categories(baseline).value_counts(), "subject": _as_categories(subject).value_counts()}
    ).fillna(0)
    counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False).index]
    rows_total = counts.sum(axis=0)
    smaller_share = rows_total.min() / max(rows_total.sum(), 1)
    # A category's smallest expected count is its total times the smaller side's share of all rows.
    kept = counts[counts.sum(axis=1) * smaller_share >= MIN_EXPECTED_COUNT]
    pooled = counts.drop(kept.index).sum(axis=0)
    table = kept.to_numpy(dtype=float, copy=True)
    if pooled.sum() > 0:
        if pooled.sum() * smaller_share >= MIN_EXPECTED_COUNT or len(table) == 0:
            table = np.vstack([table, pooled.to_numpy(dtype=float)]) if len(table) else pooled.to_numpy()[None, :]
        else:
            table[-1] += pooled.to_numpy(dtype=float)
    return table.T


def _as_categories(series: pd.Series) -> pd.Series:
    return series.dropna().astype(str)


def _corrected(features: list[FeatureDrift], *, alpha: float, correction: str) -> list[FeatureDrift]:
    """Return the test results with p-values adjusted over the family and alerts set at ``alpha``."""
    adjusted = family_adjust([feature.p_value for feature in features], correction=correction)
    return [
        FeatureDrift(**{**feature.as_dict(), "adjusted_p_value": value, "alert": value is not None and value < alpha})
        for feature, value in zip(features, adjusted, strict=True)
    ]


def family_adjust(p_values: list[float | None], *, correction: str) -> list[float | None]:
    """Return p-values adjusted for the family (None stays None): Benjamini-Hochberg or Bonferroni."""
    present = [index for index, value in enumerate(p_values) if value is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    if not present:
        return adjusted
    values = np.array([p_values[index] for index in present], dtype=float)
    if correction == BONFERRONI:
        values = np.minimum(values * len(values), 1.0)
    else:
        values = _stats().false_discovery_control(values, method="bh")
    for index, value in zip(present, values, strict=True):
        adjusted[index] = float(value)
    return adjusted


# --- Distances (nannyml, calibrated thresholds) ---------------------------------------------------


def _measured_features(
    baseline: pd.DataFrame,
    subject: pd.DataFrame,
    continuous: list[str],
    categorical: list[str],
    chosen: dict[str, str],
    thresholds: dict[str, Any],
    reference_key: Hashable | None,
) -> tuple[list[FeatureDrift], int | None]:
    """Return distance results for the columns whose method is a distance, and the chunk size used."""
    continuous = continuous if chosen["continuous"] not in TEST_METHODS else []
    categorical = categorical if chosen["categorical"] not in TEST_METHODS else []
    if not continuous and not categorical:
        return [], None
    chunk_size = min(len(subject), (len(baseline) // 2) // settings.MLSERVICE_DRIFT_REFERENCE_CHUNKS)
    # nannyml wants a method per kind even for a kind with no columns here.
    distances = {kind: AUTO_DISTANCE if method in TEST_METHODS else method for kind, method in chosen.items()}
    features = univariate_drift(
        reference=baseline[continuous + categorical],
        subject=subject[continuous + categorical],
        categorical=categorical,
        continuous=continuous,
        methods=distances,
        thresholds=thresholds,
        chunk_size=chunk_size,
        reference_key=reference_key,
    )
    return features, chunk_size


def _rule(features: list[FeatureDrift], *, alpha: float, correction: str) -> str:
    """Return the dataset verdict's rule in words."""
    tests = [feature for feature in features if feature.method in TEST_METHODS]
    parts = []
    if tests:
        name = "Benjamini-Hochberg" if correction == BENJAMINI_HOCHBERG else "Bonferroni"
        parts.append(f"a tested column's {name}-adjusted p-value (over {len(tests)} columns) is below alpha {alpha:g}")
    if len(tests) < len(features):
        parts.append("a distance is above its threshold calibrated on the baseline")
    return "Drift when " + ", or ".join(parts) + "." if parts else ""


# --- Data quality ---------------------------------------------------------------------------------


def data_quality_compare(
    baseline: pd.DataFrame,
    subject: pd.DataFrame,
    columns: list[str],
    categorical: list[str],
    *,
    alpha: float,
    correction: str,
) -> list[ColumnQuality]:
    """Compare missing-value rates (all columns) and unseen categories (categorical) with the baseline.

    A missing rate alerts when its change is significant (Fisher's exact test, or chi-square on
    large tables; family-corrected) and at least ``MISSING_RATE_MIN_CHANGE``. Unseen categories
    alert when their share of the subject exceeds what the baseline predicts for categories it
    never saw (Good-Turing: its singletons over its rows), by a one-sided binomial test.
    """
    raw = [_column_quality(column, baseline[column], subject[column], column in categorical) for column in columns]
    p_values: list[float | None] = [quality.missing_p_value for quality in raw]
    p_values += [quality.unseen_p_value for quality in raw]
    adjusted = family_adjust(p_values, correction=correction)
    results = []
    for index, quality in enumerate(raw):
        reasons = []
        missing_p, unseen_p = adjusted[index], adjusted[len(raw) + index]
        moved = abs(quality.missing_subject - quality.missing_baseline) >= MISSING_RATE_MIN_CHANGE
        if missing_p is not None and missing_p < alpha and moved:
            reasons.append(f"missing rate {quality.missing_baseline:.1%} -> {quality.missing_subject:.1%}")
        if unseen_p is not None and unseen_p < alpha:
            reasons.append(f"{quality.unseen_share:.1%} of rows in categories the baseline never had")
        results.append(ColumnQuality(**{**quality.as_dict(), "alert": bool(reasons), "reasons": reasons}))
    return results


def _column_quality(column: str, baseline: pd.Series, subject: pd.Series, categorical: bool) -> ColumnQuality:
    missing = (int(baseline.isna().sum()), int(subject.isna().sum()))
    unseen: list[str] = []
    unseen_share = 0.0
    expected = unseen_p = None
    if categorical:
        seen = baseline.dropna().astype(str).value_counts()
        present = subject.dropna().astype(str)
        novel = present[~present.isin(seen.index)]
        unseen = novel.value_counts().index[:UNSEEN_LISTED].tolist()
        unseen_share = len(novel) / len(present) if len(present) else 0.0
        expected = _unseen_mass(seen)
        if len(present) and expected is not None:
            unseen_p = float(_stats().binomtest(len(novel), len(present), expected, alternative="greater").pvalue)
    return ColumnQuality(
        column=column,
        missing_baseline=_share(missing[0], len(baseline)),
        missing_subject=_share(missing[1], len(subject)),
        missing_p_value=_missing_p_value(missing, (len(baseline), len(subject))),
        unseen_categories=unseen,
        unseen_share=round(unseen_share, 6),
        expected_unseen_share=None if expected is None else round(expected, 6),
        unseen_p_value=unseen_p,
    )


def _unseen_mass(seen: pd.Series) -> float | None:
    """Return the Good-Turing estimate of the chance a new row has a category the baseline lacks."""
    total = int(seen.sum())
    if total == 0:
        return None
    singletons = int((seen == 1).sum())
    # Never zero: a baseline of n rows cannot rule out a category rarer than 1/n.
    return min(max(singletons, 1) / total, 1.0)


def _missing_p_value(missing: tuple[int, int], rows: tuple[int, int]) -> float | None:
    if sum(missing) == 0 or min(rows) == 0:
        return None
    table = [[missing[0], rows[0] - missing[0]], [missing[1], rows[1] - missing[1]]]
    return float(_stats().fisher_exact(table).pvalue)


def _share(count: int, total: int) -> float:
    return round(count / total, 6) if total else 0.0
