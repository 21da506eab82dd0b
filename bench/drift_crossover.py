"""Benchmark: where "auto" should switch from two-sample tests to calibrated distances.

A benchmark, not a test: it prints figures and asserts nothing. On the same seeded frames (six
standard-normal columns and one categorical column, baseline and subject of the same size) it
runs the service's comparison (drift.comparison.drift_compare, no database) with the tests forced
(ks_test / chi2_test, Benjamini-Hochberg at 0.05) and with the distances forced (Jensen-Shannon,
thresholds calibrated on the baseline), and prints per size:

- false alarms: the share of same-distribution subjects with a dataset verdict of drift;
- flags of negligible shifts (0.05 and 0.1 standard deviation in one column): the larger these
  get, the more a method alarms on shifts too small to matter;
- detection of a 0.5 sd shift, which both should catch;
- the mean time of one comparison.

    .venv/bin/python bench/drift_crossover.py [--sizes 1000 2000 5000 10000 20000 50000] [--trials 40]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from offline_django import setup_django

TESTS = {"continuous": "ks_test", "categorical": "chi2_test"}
DISTANCES = {"continuous": "jensen_shannon", "categorical": "jensen_shannon"}
SCENARIOS = {"null": 0.0, "0.05 sd": 0.05, "0.1 sd": 0.1, "0.5 sd": 0.5}


def frame(rows: int, seed: int, shift: float = 0.0) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = pd.DataFrame(rng.normal(size=(rows, 6)), columns=[f"x{i}" for i in range(6)])
    data["x0"] += shift
    data["colour"] = rng.choice(["red", "green", "blue"], size=rows, p=[0.5, 0.3, 0.2])
    return data


def rates(size: int, trials: int, methods: dict[str, str]) -> dict[str, float]:
    """Return the share of trials with a drift verdict per scenario, and the mean seconds per check."""
    from drift.comparison import drift_compare

    flagged = dict.fromkeys(SCENARIOS, 0)
    elapsed = 0.0
    for trial in range(trials):
        baseline = frame(size, seed=10_000 + trial)
        for name, shift in SCENARIOS.items():
            subject = frame(size, seed=20_000 + trial, shift=shift)
            started = time.perf_counter()
            result = drift_compare(baseline=baseline, subject=subject, methods=methods)
            elapsed += time.perf_counter() - started
            flagged[name] += result.drift_detected
    return {**{name: count / trials for name, count in flagged.items()}, "seconds": elapsed / (trials * len(SCENARIOS))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000, 10_000, 20_000, 50_000])
    parser.add_argument("--trials", type=int, default=40, help="trials per size (halved from 20,000 rows)")
    args = parser.parse_args()
    setup_django()
    header = f"{'rows':>7} {'method':<10} " + " ".join(f"{name:>8}" for name in SCENARIOS) + f" {'s/check':>8}"
    print("Share of trials with a drift verdict (null = false alarms)")
    print(header)
    for size in args.sizes:
        trials = args.trials if size < 20_000 else max(args.trials // 2, 5)
        for label, methods in (("tests", TESTS), ("distances", DISTANCES)):
            row = rates(size, trials, methods)
            cells = " ".join(f"{row[name]:>8.0%}" for name in SCENARIOS)
            print(f"{size:>7} {label:<10} {cells} {row['seconds']:>8.3f}", flush=True)


if __name__ == "__main__":
    main()
