"""Model serving on the hot path: version resolution, the per-process model cache, prediction.

Loaded models are cached per process by (name, version): a registered version never changes.
Aliases and "latest" move, so their resolution is cached only for MLSERVICE_ALIAS_TTL_S.

A version tagged ``mlservice.fast_path=onnx`` is also loaded as its compiled graph and predicted
by onnxruntime (registry.compiled); any other version, or every one with MLSERVICE_FAST_PATH off,
by scikit-learn through its pyfunc model.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings

from core.exceptions import InvalidInput, NotFound
from core.memory import long_lived_objects_added, long_lived_objects_dropped
from registry import clients
from registry.compiled import ARTIFACT_PATH, FAST_PATH_ONNX, FAST_PATH_TAG, CompiledModel

logger = logging.getLogger(__name__)

DEFAULT_ALIAS = "production"


class ServedModel:
    """A loaded model version with what serving needs to know about it.

    A version with a verified ONNX graph is served by it, and its scikit-learn pipeline is only
    unpickled if something asks for ``pyfunc`` or ``estimator`` (evaluation, drift estimates):
    a web worker that only predicts never imports scikit-learn or MLflow's sklearn flavor for it.
    """

    def __init__(
        self,
        *,
        name: str,
        version: str,
        columns: tuple[str, ...],
        input_schema: Any,
        params_schema: Any = None,
        loader_module: str = "mlflow.sklearn",
        compiled: CompiledModel | None = None,
        pyfunc: Any = None,
    ) -> None:
        self.name = name
        self.version = version
        self.columns = columns
        self.input_schema = input_schema
        self.params_schema = params_schema
        self.loader_module = loader_module
        # The version's ONNX graph when it has a verified one (and the fast path is on); else scikit-learn serves.
        self.compiled = compiled
        # Every input column a required double: JSON numbers can be checked and cast in one NumPy call.
        self.doubles_only = (
            bool(columns)
            and input_schema is not None
            and all(_is_required_double(spec) for spec in input_schema.inputs)
        )
        self._pyfunc = pyfunc
        self._pyfunc_lock = threading.Lock()
        self._split: tuple[Any, Any] | None = None

    @property
    def pyfunc(self) -> Any:
        """The version's MLflow pyfunc model (scikit-learn), loaded on first use for a compiled version."""
        if self._pyfunc is None:
            with self._pyfunc_lock:
                if self._pyfunc is None:
                    self._pyfunc = clients.pyfunc_load(name=self.name, version=self.version)
        return self._pyfunc

    @property
    def estimator(self) -> Any:
        return self.pyfunc.get_raw_model()

    @property
    def has_probabilities(self) -> bool:
        if self.compiled is not None:
            return self.compiled.has_probabilities
        return hasattr(self.estimator, "predict_proba")

    @property
    def served_by(self) -> str:
        return "onnx" if self.compiled is not None else "sklearn"

    def split_pipeline(self) -> tuple[Any, Any]:
        """Return (the pipeline's transforming steps or None, its final estimator), built once."""
        if self._split is None:
            estimator = self.estimator
            steps = getattr(estimator, "steps", None)
            self._split = (estimator[:-1], estimator[-1]) if steps and len(steps) > 1 else (None, estimator)
        return self._split


def _is_required_double(spec: Any) -> bool:
    from mlflow.types import DataType

    return getattr(spec, "type", None) == DataType.double and getattr(spec, "required", True)


class _ModelCache:
    """A small LRU of loaded models; one load per (name, version) even under concurrent requests."""

    def __init__(self) -> None:
        self._models: OrderedDict[tuple[str, str], ServedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str], threading.Lock] = {}

    def get(self, name: str, version: str) -> ServedModel:
        key = (name, version)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            load_lock = self._loading.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                if key in self._models:
                    return self._models[key]
            model = _load(name, version)
            with self._lock:
                self._models[key] = model
                self._loading.pop(key, None)
                evicted = len(self._models) > settings.MLSERVICE_MODEL_CACHE_SIZE
                while len(self._models) > settings.MLSERVICE_MODEL_CACHE_SIZE:
                    self._models.popitem(last=False)
            # A loaded model lives as long as the process (or until evicted): out of the collector's way.
            if evicted:
                long_lived_objects_dropped()
            else:
                long_lived_objects_added()
            return model

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


class _ResolutionCache:
    """(name, alias or "latest") -> version, each entry kept for a short TTL."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> str | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry and entry[0] > time.monotonic():
            return entry[1]
        return None

    def put(self, key: tuple[str, str], version: str) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + settings.MLSERVICE_ALIAS_TTL_S, version)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


model_cache = _ModelCache()
resolution_cache = _ResolutionCache()


def model_version_resolve(*, name: str, version: str | None, alias: str | None) -> str:
    """Return the version to serve: the explicit one, else the alias, else "production", else the latest."""
    if version:
        return version
    if alias:
        return _cached_resolution(name, alias, lambda: clients.version_by_alias(name=name, alias=alias))
    return _cached_resolution(name, f"{DEFAULT_ALIAS}|latest", lambda: _default_version(name))


def _cached_resolution(name: str, key: str, resolve: Any) -> str:
    cached = resolution_cache.get((name, key))
    if cached:
        return cached
    version = resolve()
    resolution_cache.put((name, key), version)
    return version


def _default_version(name: str) -> str:
    try:
        return clients.version_by_alias(name=name, alias=DEFAULT_ALIAS)
    except NotFound:
        return clients.latest_version(name=name)


def served_model_get(*, name: str, version: str) -> ServedModel:
    """Return the loaded model, from the process cache when it was loaded before."""
    return model_cache.get(name, version)


def _load(name: str, version: str) -> ServedModel:
    compiled = _compiled_load(name, version)
    # A compiled version needs only its MLmodel (signature); the pipeline is unpickled if ever asked for.
    pyfunc = None if compiled is not None else clients.pyfunc_load(name=name, version=version)
    metadata = pyfunc.metadata if pyfunc is not None else clients.model_metadata_load(name=name, version=version)
    schema = metadata.get_input_schema()
    return ServedModel(
        name=name,
        version=version,
        columns=tuple(schema.input_names()) if schema is not None else (),
        input_schema=schema,
        params_schema=metadata.get_params_schema(),
        loader_module=metadata.flavors.get("python_function", {}).get("loader_module", "mlflow.sklearn"),
        compiled=compiled,
        pyfunc=pyfunc,
    )


def _compiled_load(name: str, version: str) -> CompiledModel | None:
    """Return the version's compiled graph when its tag says onnx; None (scikit-learn serves) otherwise.

    A graph that can't be read or loaded is logged and left out: the version is still served, slower.
    """
    if not settings.MLSERVICE_FAST_PATH:
        return None
    if clients.model_version_get(name=name, version=version).tags.get(FAST_PATH_TAG) != FAST_PATH_ONNX:
        return None
    try:
        data = clients.model_artifact_read(name=name, version=version, path=ARTIFACT_PATH)
        if data is None:
            logger.warning("%s v%s is tagged %s=onnx but has no %s", name, version, FAST_PATH_TAG, ARTIFACT_PATH)
            return None
        return CompiledModel(data)
    except Exception:
        logger.exception("Could not load the compiled graph of %s v%s; serving it with scikit-learn", name, version)
        return None


def frame_check(model: ServedModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with the model's columns in order; 400 naming missing or extra columns."""
    if not model.columns:
        return frame
    present = [str(column) for column in frame.columns]
    missing = [column for column in model.columns if column not in present]
    extra = [column for column in present if column not in model.columns]
    if missing or extra:
        details: dict[str, Any] = {}
        parts = []
        if missing:
            details["missing_columns"] = missing
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            details["unexpected_columns"] = extra
            parts.append(f"unexpected column(s) {', '.join(extra)}")
        raise InvalidInput(f"input: {'; '.join(parts)}.", details=details)
    return frame[list(model.columns)]


def predict(model: ServedModel, frame: pd.DataFrame, *, probabilities: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (predictions, probabilities or None) for ``frame``, checked and cast by MLflow's schema enforcement."""
    from mlflow.exceptions import MlflowException

    try:
        checked = clients.schema_enforce(
            input_schema=model.input_schema,
            params_schema=model.params_schema,
            loader_module=model.loader_module,
            frame=frame,
        )
    except MlflowException as exc:
        # Schema enforcement: the message names the mistyped column.
        raise InvalidInput(f"input: {exc.message}", details={"input": [exc.message]}) from exc
    return _predict_checked(model, checked, probabilities=probabilities)


def predict_rows(model: ServedModel, rows: np.ndarray, *, probabilities: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (predictions, probabilities or None) for rows checked already: float64, the model's columns in order.

    Only for a model whose inputs are all doubles (``doubles_only``), where MLflow's schema
    enforcement would do nothing but this cast.
    """
    if model.compiled is not None and model.compiled.takes_rows(model.columns):
        _check_probabilities(model, probabilities)
        return model.compiled.run_rows(rows, probabilities=probabilities)
    return _predict_checked(model, pd.DataFrame(rows, columns=list(model.columns)), probabilities=probabilities)


def _predict_checked(
    model: ServedModel, frame: pd.DataFrame, *, probabilities: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    _check_probabilities(model, probabilities)
    if model.compiled is not None:
        # One onnxruntime run gives both outputs.
        return model.compiled.run(frame, probabilities=probabilities)
    if not probabilities:
        return np.asarray(model.estimator.predict(frame)), None
    # Both outputs from one pass of the pipeline's transforming steps (what predict and predict_proba each do).
    transform, final = model.split_pipeline()
    features = transform.transform(frame) if transform is not None else frame
    return np.asarray(final.predict(features)), np.asarray(final.predict_proba(features))


def _check_probabilities(model: ServedModel, probabilities: bool) -> None:
    if probabilities and not model.has_probabilities:
        raise InvalidInput.for_field("return_probabilities", "this model does not give probabilities.")
