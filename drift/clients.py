"""Outside systems of the drift app: Parquet in and out of the drift-samples storage, and nannyml."""

from __future__ import annotations

import io
import json
import math
import sys
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from django.core.files.base import ContentFile

from core.storage import storage_errors
from drift.models import drift_samples_storage


def parquet_write(*, path: str, frame: pd.DataFrame) -> str:
    """Write ``frame`` as Parquet at ``path`` and return the name the storage chose."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    with storage_errors("writing the drift sample"):
        return drift_samples_storage().save(path, ContentFile(buffer.getvalue()))


def parquet_read(path: str) -> pd.DataFrame:
    """Read a Parquet drift sample back."""
    with storage_errors("reading the drift sample"), drift_samples_storage().open(path, "rb") as handle:
        content = handle.read()
    return pd.read_parquet(io.BytesIO(content))


def file_delete(path: str) -> None:
    with storage_errors("deleting the drift sample"):
        drift_samples_storage().delete(path)


def storage_ping() -> None:
    """Raise DependencyUnavailable unless the drift-samples storage answers."""
    with storage_errors("checking the drift-samples storage"):
        drift_samples_storage().exists("health-check")


# --- nannyml -------------------------------------------------------------------------------------

_import_lock = threading.Lock()


def nannyml_import() -> Any:
    """Return nannyml, imported without the ``load_dotenv()`` it runs at import.

    nannyml loads the first ``.env`` found from the working directory (or from its own files)
    upward into the process environment: with a virtualenv inside the project, the project's
    ``.env``, whatever DJANGO_READ_DOT_ENV_FILE says. The service reads ``.env`` only when that
    setting asks (mlservice.settings).
    """
    with _import_lock:
        if (module := sys.modules.get("nannyml")) is not None:
            return module
        import dotenv

        load_dotenv = dotenv.load_dotenv
        dotenv.load_dotenv = lambda *args, **kwargs: False
        try:
            import nannyml
        finally:
            dotenv.load_dotenv = load_dotenv
    return nannyml


CONTINUOUS_METHODS = ("jensen_shannon", "kolmogorov_smirnov", "wasserstein", "hellinger")
CATEGORICAL_METHODS = ("jensen_shannon", "chi2", "l_infinity", "hellinger")
CALCULATOR_CACHE_SIZE = 16
CALIBRATION_SEED = 0
# nannyml's default: StandardDeviationThreshold(std_lower_multiplier=None, std_upper_multiplier=3).
DEFAULT_STD_MULTIPLIER = 3.0


@dataclass(frozen=True)
class FeatureDrift:
    """The drift of one column: the statistic, its p-value (tests) or threshold (distances), the alert."""

    column: str
    kind: str
    method: str
    value: float | None
    alert: bool
    p_value: float | None = None
    adjusted_p_value: float | None = None
    threshold: float | None = None
    lower_threshold: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _CalculatorCache:
    """Fitted nannyml calculators by (reference, columns, methods, thresholds, chunk size).

    Fitting reads the whole reference; a monitoring check of a version re-uses the fit.
    """

    def __init__(self) -> None:
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_fit(self, key: Hashable | None, fit: Callable[[], Any]) -> Any:
        if key is None:
            return fit()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        entry = fit()
        with self._lock:
            self._items[key] = entry
            while len(self._items) > CALCULATOR_CACHE_SIZE:
                self._items.popitem(last=False)
        return entry

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


calculator_cache = _CalculatorCache()


@dataclass(frozen=True)
class _Calibrated:
    """A calculator fitted on one half of the baseline, and thresholds set on the other half."""

    calculator: Any
    thresholds: dict[str, tuple[float | None, float | None]]
    lock: threading.Lock = field(default_factory=threading.Lock)


def univariate_drift(
    *,
    reference: pd.DataFrame,
    subject: pd.DataFrame,
    categorical: list[str],
    continuous: list[str],
    methods: dict[str, str],
    thresholds: dict[str, Any],
    chunk_size: int,
    reference_key: Hashable | None,
) -> list[FeatureDrift]:
    """Compare ``subject`` with ``reference`` column by column with nannyml's UnivariateDriftCalculator.

    nannyml's default threshold is mean + 3 std of the statistic over reference chunks, each
    compared with the whole reference, which includes that chunk: on a fresh sample from the same
    distribution this raised false alarms on ~10% of features (measured here). So the baseline is
    split in two at random: nannyml is fitted on one half, and the statistic of chunks of the other
    half (independent of the fit, of the subject's chunk size) sets each column's threshold with
    the same rule. A column alerts when the subject's statistic, averaged over its chunks, is above
    (or below a lower) threshold. Thresholds given in the call replace the calibrated ones.
    """
    key = None
    if reference_key is not None:
        key = (reference_key, tuple(continuous), tuple(categorical), tuple(sorted(methods.items())),
               json.dumps(thresholds, sort_keys=True), chunk_size)  # fmt: skip

    def fit() -> _Calibrated:
        return _fit_calibrated(reference, categorical, continuous, methods, thresholds, chunk_size)

    calibrated = calculator_cache.get_or_fit(key, fit)
    with calibrated.lock, warnings.catch_warnings():
        # A subject is often one or two chunks by design; nannyml warns about that every time.
        warnings.filterwarnings("ignore", message="The resulting number of chunks is too low")
        result = calibrated.calculator.calculate(_prepared(subject, categorical)).filter(period="analysis").to_df()
    return [
        _feature_result(result, column, column in categorical, methods, calibrated.thresholds[column])
        for column in continuous + categorical
    ]


def _fit_calibrated(
    reference: pd.DataFrame,
    categorical: list[str],
    continuous: list[str],
    methods: dict[str, str],
    thresholds: dict[str, Any],
    chunk_size: int,
) -> _Calibrated:
    nannyml = nannyml_import()
    SizeBasedChunker = nannyml.SizeBasedChunker

    shuffled = _prepared(reference, categorical).sample(frac=1.0, random_state=CALIBRATION_SEED)
    half = len(shuffled) // 2
    fit_part, calibration_part = shuffled.iloc[:half], shuffled.iloc[half:]
    calculator = nannyml.UnivariateDriftCalculator(
        column_names=continuous + categorical,
        treat_as_categorical=categorical or None,
        treat_as_numerical=continuous or None,
        continuous_methods=[methods["continuous"]],
        categorical_methods=[methods["categorical"]],
        chunker=SizeBasedChunker(chunk_size=chunk_size, incomplete="drop"),
    ).fit(fit_part)
    calibration = calculator.calculate(calibration_part).filter(period="analysis").to_df()
    # Subjects keep every row: a short last chunk joins the one before it.
    calculator.chunker = SizeBasedChunker(chunk_size=chunk_size, incomplete="append")
    bounds = {}
    for column in continuous + categorical:
        method = methods["categorical" if column in categorical else "continuous"]
        values = pd.to_numeric(calibration[(column, method, "value")], errors="coerce").dropna()
        bounds[column] = _threshold(thresholds.get(method), values)
    return _Calibrated(calculator=calculator, thresholds=bounds)


def _threshold(spec: Any, values: pd.Series) -> tuple[float | None, float | None]:
    """Return (lower, upper): a constant given in the call, else mean + k std of the calibration chunks."""
    if isinstance(spec, int | float):
        return None, float(spec)
    if isinstance(spec, dict) and ("lower" in spec or "upper" in spec):
        return spec.get("lower"), spec.get("upper")
    spec = spec or {}
    upper_k = spec.get("std_upper_multiplier", DEFAULT_STD_MULTIPLIER)
    lower_k = spec.get("std_lower_multiplier")
    mean, std = float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0
    upper = mean + upper_k * std if upper_k is not None else None
    lower = max(mean - lower_k * std, 0.0) if lower_k is not None else None
    return lower, upper


def _prepared(frame: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Return a copy nannyml accepts: categorical columns as strings with missing values named."""
    frame = frame.copy()
    for column in categorical:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), "<missing>").astype(str)
    return frame


def _feature_result(
    result: pd.DataFrame,
    column: str,
    is_categorical: bool,
    methods: dict[str, str],
    bounds: tuple[float | None, float | None],
) -> FeatureDrift:
    method = methods["categorical" if is_categorical else "continuous"]
    value = _finite_or_none(pd.to_numeric(result[(column, method, "value")], errors="coerce").mean())
    lower, upper = bounds
    alert = value is not None and ((upper is not None and value > upper) or (lower is not None and value < lower))
    return FeatureDrift(
        column=column,
        kind="categorical" if is_categorical else "continuous",
        method=method,
        value=value,
        threshold=_finite_or_none(upper),
        lower_threshold=_finite_or_none(lower),
        alert=bool(alert),
    )


def _finite_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --- nannyml: performance estimation (CBPE, DLE) and multivariate drift ------------------------

# Columns the estimators read beside the model's inputs; prefixed so that no feature collides.
Y_TRUE = "nml__y_true"
Y_PRED = "nml__y_pred"
Y_PROBA = "nml__proba"
# nannyml's DefaultChunker cuts a reference into 10 chunks; fewer than 6 make nannyml warn that its
# thresholds are unreliable ("6 chunks is far from optimal, but a reasonable minimum", its docs).
REFERENCE_CHUNKS = 10
MIN_REFERENCE_CHUNKS = 6
# nannyml's DLE trains LightGBM on the reference's losses: quiet, reproducible, one thread (a check
# shares its worker with others).
DLE_HYPERPARAMETERS = {"verbosity": -1, "random_state": 0, "n_jobs": 1}

# Fitted estimators and reconstruction calculators, and the model's outputs on drift samples,
# apart from the univariate calculators so that neither evicts the other.
estimator_cache = _CalculatorCache()


@dataclass(frozen=True)
class MetricEstimate:
    """One metric of nannyml's estimate on one chunk: the value, its confidence band, thresholds, realized."""

    metric: str
    value: float | None
    sampling_error: float | None
    lower: float | None
    upper: float | None
    realized: float | None
    lower_threshold: float | None
    upper_threshold: float | None
    alert: bool


@dataclass(frozen=True)
class FittedEstimator:
    """CBPE or DLE fitted on a labelled reference, and its estimate of that whole reference (realized values)."""

    estimator: Any
    metrics: tuple[str, ...]
    chunk_size: int
    reference: dict[str, MetricEstimate]
    # DLE: the reference's categories of each non-numeric feature, in the order of their codes.
    categories: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def performance_estimator_fit(
    *,
    reference: pd.DataFrame,
    problem_type: str,
    metrics: list[str],
    chunk_size: int,
    y_pred_proba: str | dict[str, str] | None = None,
    features: list[str] | None = None,
) -> FittedEstimator:
    """Fit CBPE (classification) or DLE (``problem_type`` "regression") on ``reference``.

    ``reference`` holds ``Y_TRUE``, ``Y_PRED`` and the probability column(s) (CBPE) or the features
    (DLE). nannyml sets its thresholds on chunks of ``chunk_size`` rows of the reference.
    """
    nannyml = nannyml_import()
    SizeBasedChunker = nannyml.SizeBasedChunker

    chunker = SizeBasedChunker(chunk_size=chunk_size, incomplete="drop")
    estimator: Any
    categories: dict[str, list[str]] = {}
    if problem_type == "regression":
        categories = {
            column: sorted(reference[column].dropna().astype(str).unique())
            for column in features or []
            if not pd.api.types.is_numeric_dtype(reference[column]) or pd.api.types.is_bool_dtype(reference[column])
        }
        reference = _coded(reference, categories)
        estimator = nannyml.DLE(
            feature_column_names=features or [], y_pred=Y_PRED, y_true=Y_TRUE, metrics=metrics, chunker=chunker,
            hyperparameters=DLE_HYPERPARAMETERS,
        )  # fmt: skip
    else:
        estimator = nannyml.CBPE(
            metrics=metrics, y_pred_proba=y_pred_proba or Y_PROBA, y_pred=Y_PRED, y_true=Y_TRUE,
            problem_type=problem_type, chunker=chunker,
        )  # fmt: skip
    with _nannyml_quiet():
        estimator.fit(reference)
    fitted = FittedEstimator(
        estimator=estimator, metrics=tuple(metrics), chunk_size=chunk_size, reference={}, categories=categories
    )
    return replace(fitted, reference=_estimate_whole(fitted, reference))


def performance_estimate(*, fitted: FittedEstimator, subject: pd.DataFrame) -> dict[str, MetricEstimate]:
    """Return nannyml's estimate of every metric on ``subject`` taken whole, as one chunk.

    ``subject`` holds the model's outputs (and features for DLE); a ``Y_TRUE`` column, where
    not missing, gives the realized values beside the estimates.
    """
    with fitted.lock:
        return _estimate_whole(fitted, _coded(subject, fitted.categories))


def _coded(frame: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    """Return ``frame`` with each listed column as the codes of its categories (unseen or missing: NaN).

    nannyml's DLE encodes text features itself, but writes them back into the frame, where pandas 3
    stores strings as Arrow arrays, and then reshapes them, which Arrow arrays refuse. Numbers it
    leaves alone; LightGBM splits the codes as it would split any number.
    """
    if not categories:
        return frame
    frame = frame.copy()
    for column, names in categories.items():
        text = [None if pd.isna(value) else str(value) for value in frame[column]]
        codes = pd.Categorical(text, categories=names).codes
        frame[column] = np.where(codes < 0, np.nan, codes.astype(float))
    return frame


def _estimate_whole(fitted: FittedEstimator, frame: pd.DataFrame) -> dict[str, MetricEstimate]:
    SizeBasedChunker = nannyml_import().SizeBasedChunker

    # One chunk of every row: a check estimates its window, not slices of it. The metrics keep the
    # fit's chunker (their thresholds); only the estimator's split changes.
    fitted.estimator.chunker = SizeBasedChunker(chunk_size=max(len(frame), 1), incomplete="append")
    with _nannyml_quiet():
        row = fitted.estimator.estimate(frame).filter(period="analysis").to_df().iloc[0]
    estimates = {}
    for metric in fitted.metrics:
        alert = row.get((metric, "alert"))
        estimates[metric] = MetricEstimate(
            metric=metric,
            value=_finite_or_none(row.get((metric, "value"))),
            sampling_error=_finite_or_none(row.get((metric, "sampling_error"))),
            lower=_finite_or_none(row.get((metric, "lower_confidence_boundary"))),
            upper=_finite_or_none(row.get((metric, "upper_confidence_boundary"))),
            realized=_finite_or_none(row.get((metric, "realized"))),
            lower_threshold=_finite_or_none(row.get((metric, "lower_threshold"))),
            upper_threshold=_finite_or_none(row.get((metric, "upper_threshold"))),
            alert=bool(alert) if alert is not None and not pd.isna(alert) else False,
        )
    return estimates


@dataclass(frozen=True)
class _Reconstruction:
    """nannyml's reconstruction calculator fitted on one half of the baseline, thresholds set on the other."""

    calculator: Any
    lower: float | None
    upper: float | None
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class ReconstructionDrift:
    """PCA reconstruction error of a subject against the band its baseline sets."""

    value: float | None
    lower: float | None
    upper: float | None
    alert: bool
    chunk_size: int


def reconstruction_drift(
    *,
    reference: pd.DataFrame,
    subject: pd.DataFrame,
    categorical: list[str],
    chunk_size: int,
    reference_key: Hashable | None,
) -> ReconstructionDrift:
    """Compare ``subject`` with ``reference`` by nannyml's DataReconstructionDriftCalculator (all columns).

    As for the univariate distances, the baseline is split in two at random: PCA is fitted on one
    half and the other half's chunks of ``chunk_size`` rows set the band (nannyml's rule, mean +- 3
    std). Fitted and measured on the same rows, the reference error is biased low (measured here:
    a fresh sample of the same distribution alarmed in up to 14 of 40 checks). The subject is cut
    into chunks of the same size and their errors averaged.
    """
    columns = list(reference.columns)
    key = None
    if reference_key is not None:
        key = ("reconstruction", reference_key, tuple(columns), tuple(categorical), chunk_size)
    calibrated = estimator_cache.get_or_fit(
        key, lambda: _fit_reconstruction(_prepared(reference, categorical), columns, chunk_size)
    )
    with calibrated.lock, _nannyml_quiet():
        result = calibrated.calculator.calculate(_prepared(subject, categorical)).filter(period="analysis").to_df()
    value = _finite_or_none(pd.to_numeric(result[("reconstruction_error", "value")], errors="coerce").mean())
    outside = value is not None and (
        (calibrated.lower is not None and value < calibrated.lower)
        or (calibrated.upper is not None and value > calibrated.upper)
    )
    return ReconstructionDrift(
        value=value, lower=calibrated.lower, upper=calibrated.upper, alert=bool(outside), chunk_size=chunk_size
    )


def _fit_reconstruction(reference: pd.DataFrame, columns: list[str], chunk_size: int) -> _Reconstruction:
    nannyml = nannyml_import()
    SizeBasedChunker = nannyml.SizeBasedChunker

    shuffled = reference.sample(frac=1.0, random_state=CALIBRATION_SEED)
    half = len(shuffled) // 2
    calculator = nannyml.DataReconstructionDriftCalculator(
        column_names=columns, chunker=SizeBasedChunker(chunk_size=chunk_size, incomplete="drop")
    )
    with _nannyml_quiet():
        calculator.fit(shuffled.iloc[:half])
        calibration = calculator.calculate(shuffled.iloc[half:]).filter(period="analysis").to_df()
    values = pd.to_numeric(calibration[("reconstruction_error", "value")], errors="coerce").dropna()
    # nannyml's StandardDeviationThreshold: mean +- 3 std (population std, as nannyml computes it).
    mean, std = float(values.mean()), float(values.std(ddof=0))
    lower = max(mean - DEFAULT_STD_MULTIPLIER * std, 0.0)
    upper = mean + DEFAULT_STD_MULTIPLIER * std
    calculator.chunker = SizeBasedChunker(chunk_size=chunk_size, incomplete="append")
    return _Reconstruction(calculator=calculator, lower=_finite_or_none(lower), upper=_finite_or_none(upper))


@contextmanager
def _nannyml_quiet() -> Iterator[None]:
    """Silence nannyml's warnings about few chunks (a check's subject is one window by design) and
    about metrics a window can't give (no feedback, a class missing): those come back as None."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The resulting number of chunks is too low")
        warnings.filterwarnings("ignore", message="Not enough data to compute")
        warnings.filterwarnings("ignore", message="Too many missing values")
        warnings.filterwarnings("ignore", message=".*does not contain all reported classes")
        yield
