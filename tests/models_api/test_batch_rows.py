"""What a batch stores for each row: inputs serialised as pandas serialises them, line by line, however fast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models_api.inference import frame_json


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
