"""Synthetic data with known drift, for the drift tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

NUMERIC = [f"x{i}" for i in range(6)]
CATEGORIES = ["red", "green", "blue"]


def synthetic_frame(
    rows: int, *, seed: int, shift: dict[str, float] | None = None, colours: list[float] | None = None
) -> pd.DataFrame:
    """Return rows of 6 standard-normal features and a categorical "colour"; shift some means if asked."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(NUMERIC))), columns=NUMERIC)
    for column, amount in (shift or {}).items():
        frame[column] += amount
    frame["colour"] = rng.choice(CATEGORIES, size=rows, p=colours or [0.5, 0.3, 0.2])
    frame["target"] = (frame["x0"] + frame["x1"] > 0).astype(int)
    return frame
