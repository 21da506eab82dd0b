"""A project's own data source, as a project would write one (README, "Data sources")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from core.datasources import DataSource, QueryInfo, SourceUnavailable


class SyntheticSource(DataSource):
    """Rows computed from a seed: one query, ``rows(n, seed)``; ``options.down`` plays a stopped system."""

    def queries(self) -> dict[str, QueryInfo]:
        return {"rows": QueryInfo(name="rows", parameters=["n", "seed"], description="n seeded rows")}

    def read(self, *, query: str, params: dict[str, Any], chunk_rows: int) -> Iterator[pd.DataFrame]:
        if self.config.get("options", {}).get("down"):
            raise SourceUnavailable("the synthetic system is down")
        rng = np.random.default_rng(int(params["seed"]))
        frame = pd.DataFrame({"a": rng.normal(size=int(params["n"])), "b": rng.normal(size=int(params["n"]))})
        frame["target"] = (frame["a"] + frame["b"] > 0).astype(int)
        for start in range(0, len(frame), chunk_rows):
            yield frame.iloc[start : start + chunk_rows]
