"""The compiled fast path at run time: a version's pipeline as an ONNX graph, run by onnxruntime.

The graph (written by models_api.compiling) takes two inputs, the numeric columns as one
float tensor and the categorical ones as one string tensor, and carries its own layout in the
model's metadata, so serving needs neither skl2onnx nor the training code. Training verifies a
graph through this same class before it is kept, so what was checked is what is served.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# The registered version's tag: "onnx" when the artifact below is there and verified, else "none: <reason>".
FAST_PATH_TAG = "mlservice.fast_path"
FAST_PATH_ONNX = "onnx"
# Where the graph lives inside the version's logged model (next to MLmodel, which ignores it).
ARTIFACT_DIR = "fast_path"
ARTIFACT_FILE = "model.onnx"
ARTIFACT_PATH = f"{ARTIFACT_DIR}/{ARTIFACT_FILE}"
# The graph's metadata key holding its Layout as JSON.
LAYOUT_KEY = "mlservice.layout"
# Missing categorical values are fed as this string: ONNX string tensors have no NaN.
MISSING = "\x00mlservice:missing"
# A value no category can equal, for what scikit-learn would treat as an unknown category.
UNSEEN = "\x00mlservice:unseen"
NUMERIC_INPUT = "numeric"
CATEGORICAL_INPUT = "categorical"
PRECISIONS = {"float32": np.float32, "float64": np.float64}
_is_float = np.frompyfunc(lambda value: isinstance(value, float), 1, 1)


@dataclass(frozen=True)
class Layout:
    """What the graph takes and gives: its input columns, their precision, the task and the class labels."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    precision: str
    task: str
    # Class labels with scikit-learn's dtype, so predictions come back in the type sklearn gives.
    classes: tuple[Any, ...] = ()
    classes_dtype: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "numeric": list(self.numeric),
                "categorical": list(self.categorical),
                "precision": self.precision,
                "task": self.task,
                "classes": list(self.classes),
                "classes_dtype": self.classes_dtype,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Layout:
        data = json.loads(text)
        return cls(
            numeric=tuple(data["numeric"]),
            categorical=tuple(data["categorical"]),
            precision=data["precision"],
            task=data["task"],
            classes=tuple(data.get("classes") or ()),
            classes_dtype=data.get("classes_dtype") or "",
        )


class CompiledModel:
    """An onnxruntime session over a compiled pipeline; one ``run`` gives predictions and probabilities."""

    def __init__(self, onnx_bytes: bytes) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # Web workers are processes: threads inside one would only fight the others for the cores.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        self.session = onnxruntime.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        metadata = self.session.get_modelmeta().custom_metadata_map
        if LAYOUT_KEY not in metadata:
            raise ValueError(f"the ONNX graph has no {LAYOUT_KEY!r} metadata")
        self.layout = Layout.from_json(metadata[LAYOUT_KEY])
        self._dtype = PRECISIONS[self.layout.precision]
        self._outputs = [output.name for output in self.session.get_outputs()]
        self._classes = (
            np.asarray(self.layout.classes, dtype=self.layout.classes_dtype) if self.layout.classes else None
        )

    @property
    def columns(self) -> tuple[str, ...]:
        return self.layout.numeric + self.layout.categorical

    @property
    def has_probabilities(self) -> bool:
        return bool(self.layout.classes) and len(self._outputs) > 1

    def takes_rows(self, columns: tuple[str, ...]) -> bool:
        """Return whether rows of ``columns``, in that order, are the graph's numeric input as they are."""
        return not self.layout.categorical and self.layout.numeric == columns

    def run(self, frame: pd.DataFrame, *, probabilities: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Return (predictions, probabilities or None) for ``frame``, typed as scikit-learn types them."""
        return self._run(self._feed(frame), probabilities=probabilities)

    def run_rows(self, rows: np.ndarray, *, probabilities: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """``run`` for a 2-D array of the numeric columns in layout order (see ``takes_rows``): no DataFrame."""
        return self._run({NUMERIC_INPUT: np.asarray(rows, dtype=self._dtype)}, probabilities=probabilities)

    def _run(self, feed: dict[str, np.ndarray], *, probabilities: bool) -> tuple[np.ndarray, np.ndarray | None]:
        outputs = self.session.run(self._outputs if probabilities else self._outputs[:1], feed)
        return self._predictions(outputs[0]), (
            np.asarray(outputs[1], dtype=np.float64) if probabilities and len(outputs) > 1 else None
        )

    def _feed(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        feed: dict[str, np.ndarray] = {}
        if self.layout.numeric:
            # Selecting columns costs more than the forest on one row: skip it when the frame is just those.
            numeric = frame if tuple(frame.columns) == self.layout.numeric else frame[list(self.layout.numeric)]
            feed[NUMERIC_INPUT] = numeric.to_numpy(dtype=self._dtype, na_value=np.nan)
        if self.layout.categorical:
            values = frame[list(self.layout.categorical)].to_numpy(dtype=object, copy=True)
            missing = pd.isna(values)
            if missing.any():
                # scikit-learn imputes NaN only: None in an object column is a category it never saw.
                nan = _is_float(values).astype(bool) & missing
                values[missing & ~nan] = UNSEEN
                values[nan] = MISSING
            feed[CATEGORICAL_INPUT] = values.astype(str).astype(object)
        return feed

    def _predictions(self, raw: np.ndarray) -> np.ndarray:
        values = np.asarray(raw).ravel()
        if self._classes is None:
            # A regressor: scikit-learn answers in float64.
            return values.astype(np.float64)
        # The graph's labels are int64 or strings; scikit-learn's are its classes_, whatever their dtype.
        order = np.argsort(self._classes)
        positions = np.searchsorted(self._classes, values, sorter=order)
        return self._classes[order[np.clip(positions, 0, len(order) - 1)]]
