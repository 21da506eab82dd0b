"""What a batch stores for each row: inputs serialised as pandas serialises them, line by line, however fast."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pandas as pd
import pytest

from models_api.inference import frame_json
from predictions.models import Prediction
from predictions.services import PredictionBatch, input_keys_order, predictions_append


def pandas_lines(frame: pd.DataFrame) -> list[str]:
    """The serialisation batch rows had before: pandas' JSON lines, one per row."""
    return frame.to_json(orient="records", lines=True, date_format="iso").rstrip("\n").split("\n")


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
def test_each_rows_json_is_the_text_pandas_gives_for_that_row(name):
    frame = frames()[name]

    assert frame_json(frame) == pandas_lines(frame)


def test_no_rows_give_no_texts():
    assert frame_json(pd.DataFrame({"a": pd.Series([], dtype=float)})) == []


@pytest.mark.django_db
def test_inputs_sent_in_the_stores_key_order_are_stored_as_sent_in_any_order():
    columns = ["mean radius", "x", "area error", "é", "zz", "a"]
    frame = pd.DataFrame([[1.5, 2, 0.25, 3.0, -1.0, 7.0]], columns=columns)
    ordered = input_keys_order(columns=columns)
    batch = PredictionBatch(
        model_name="key-order", model_version="1", request_id=uuid.uuid4(),
        inputs=frame_json(frame[ordered]), predictions=["1"], probabilities=None,
    )  # fmt: skip

    predictions_append(batch=batch, first_row_index=0)

    # jsonb's own order: shorter keys first, then bytewise ("é" is two bytes).
    assert ordered == ["a", "x", "zz", "é", "area error", "mean radius"]
    assert Prediction.objects.get(request_id=batch.request_id).inputs == json.loads(frame_json(frame)[0])
