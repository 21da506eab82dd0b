"""What a batch stores for each row: its inputs as JSON that reads back as the row's values, every digit kept."""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from models_api.batch import _probability_texts
from models_api.inference import frame_json
from predictions.models import Prediction
from predictions.services import PredictionBatch, predictions_append


def expected(value: Any) -> Any:
    """A frame's value as its stored JSON should read back: missing and non-finite numbers as null."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_back(text: Any, want: Any) -> Any:
    return pd.Timestamp(text) if isinstance(want, pd.Timestamp) and text is not None else text


def frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(5)
    rows = 5_000
    return {
        "floats of every scale": pd.DataFrame(
            {"a": rng.normal(size=rows) * 10.0 ** rng.integers(-20, 20, size=rows), "b": rng.random(rows)}
        ),
        "special floats": pd.DataFrame({"x": [1.0, np.nan, np.inf, -np.inf, -0.0, 1e300, 5e-324, 0.1 + 0.2, 1e-11]}),
        "integers and booleans": pd.DataFrame(
            {"i": rng.integers(-(10**12), 10**12, size=rows), "b": rng.random(rows) > 0.5, "u": np.arange(rows)}
        ),
        "dates": pd.DataFrame(
            {
                "day": pd.date_range("2020-01-01", periods=rows, freq="37min"),
                "at": pd.date_range("2020-01-01", periods=rows, freq="s", tz="Europe/Paris"),
            }
        ),
        "nullable": pd.DataFrame(
            {
                "i": pd.array([1, None, 3], dtype="Int64"),
                "f": pd.array([1.5, None, 2.5], dtype="Float64"),
                "b": pd.array([True, None, False], dtype="boolean"),
            }
        ),
        "odd names": pd.DataFrame({'quo"te': [1.0, 2.0], "sl/ash": [3, 4], "é 中文": [0.5, 0.2], "b{r}ace": [1, 2]}),
        "text holding a row break": pd.DataFrame({"s": ["a},{b", "x", None], "f": [1.0, 2.0, np.nan]}),
        "a name holding a row break": pd.DataFrame({"a},{b": [1.0, 2.0]}),
        "one row": pd.DataFrame({"a": [1.25]}),
    }


@pytest.mark.parametrize("name", list(frames()))
def test_each_rows_json_reads_back_as_that_rows_values(name):
    frame = frames()[name]

    texts = frame_json(frame)

    assert len(texts) == len(frame)
    for position, text in enumerate(texts):
        row = json.loads(text)
        assert list(row) == [str(column) for column in frame.columns]
        for column_position, column in enumerate(frame.columns):
            want = expected(frame.iloc[position, column_position])
            assert read_back(row[str(column)], want) == want, (column, position, text)


def float_frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(8)
    scales = 10.0 ** rng.integers(-300, 300, size=(2_000, 3))
    return {
        "every scale": pd.DataFrame(rng.normal(size=(2_000, 3)) * scales, columns=["a", "b", "c"]),
        "special floats": frames()["special floats"],
        "float32 beside float64": pd.DataFrame({"f32": np.float32([0.1, 1e-30, np.nan]), "f64": [0.1, -0.0, np.inf]}),
        "names with % and quotes": pd.DataFrame({"100%": [1.5], '%s "q"': [2.5], "é": [3.5], "%(x)s": [4.5]}),
        "thirty columns": pd.DataFrame(rng.random((500, 30)).round(5), columns=[f"col {i}" for i in range(30)]),
    }


@pytest.mark.parametrize("name", list(float_frames()))
def test_float_rows_are_the_text_orjson_gives_a_dict_of_the_rows_floats(name):
    frame = float_frames()[name]
    columns = [str(column) for column in frame.columns]

    texts = frame_json(frame)

    assert texts == [orjson.dumps(dict(zip(columns, row, strict=True))).decode() for row in frame.to_numpy().tolist()]


def test_no_rows_give_no_texts():
    assert frame_json(pd.DataFrame({"a": pd.Series([], dtype=float)})) == []


def test_probabilities_keep_every_digit():
    probabilities = np.array([[1e-20, 1 - 1e-20], [np.nan, 0.5], [1 / 3, 2 / 3]])

    texts = _probability_texts(probabilities)

    assert [json.loads(text) for text in texts] == [[1e-20, 1 - 1e-20], [None, 0.5], [1 / 3, 2 / 3]]


@pytest.mark.django_db
def test_a_chunks_inputs_are_stored_as_serialised():
    frame = frames()["floats of every scale"].head(50)
    batch = PredictionBatch(
        model_name="batch-rows", model_version="1", request_id=uuid.uuid4(),
        inputs=frame_json(frame), predictions=["1"] * len(frame), probabilities=None,
    )  # fmt: skip

    predictions_append(batch=batch, first_row_index=0)

    stored = Prediction.objects.filter(request_id=batch.request_id).order_by("row_index")
    assert [row.inputs for row in stored] == frame.to_dict(orient="records")
