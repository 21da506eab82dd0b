"""Benchmark: how close the service's estimated accuracy (nannyml CBPE, no labels) comes to the real one.

A benchmark, not a test: it prints figures and asserts nothing. Synthetic data with a fixed concept,
P(y = 1 | x) = sigmoid(1.5 x0 + x1 - 0.8 x2^2 + 0.6 x3 x4 + 0.8), and six standard-normal inputs. Each
model is trained on 10,000 rows; a held-out 3,000-row reference plays the version's drift sample.
CBPE is fitted on it the way a check fits it (drift.clients.performance_estimator_fit, accuracy,
roc_auc and f1, thresholds over chunks of max(30, rows // 10)), then estimates windows taken whole
(drift.clients.performance_estimate, no labels given) under known covariate shifts, five scenarios
of 10 windows each, 50 windows per size:

- none: the reference's distribution;
- x0 +0.5 sd, x0 +1 sd: the strongest input moves (accuracy rises: rows leave the boundary);
- x2 x1.5 sd: the quadratic input spreads (more rows where the concept bends);
- x3, x4 +1 sd: the interacting inputs move together.

Per model and window size it prints the absolute error between estimated and realized accuracy
(the realized one from the window's labels): mean and 90th percentile (target: mean <= 0.02), then
per scenario the mean realized and estimated accuracy. A window's realized accuracy has its own
sampling noise (about 0.018 sd at 500 rows, 0.009 at 2,000), which the error includes.

    .venv/bin/python bench/estimate_quality.py [--windows 50] [--sizes 500 2000] [--reference-seed 2]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from offline_django import setup_django

COLUMNS = [f"x{i}" for i in range(6)]
# name: (mean shifts, scale factors) of the inputs.
SCENARIOS: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    "none": ({}, {}),
    "x0 +0.5 sd": ({"x0": 0.5}, {}),
    "x0 +1 sd": ({"x0": 1.0}, {}),
    "x2 x1.5 sd": ({}, {"x2": 1.5}),
    "x3, x4 +1 sd": ({"x3": 1.0, "x4": 1.0}, {}),
}
TRAIN_ROWS = 10_000
REFERENCE_ROWS = 3_000


def sample(rows: int, seed: int, scenario: str = "none") -> tuple[Any, Any]:
    """Return (inputs, labels) drawn from the fixed concept under ``scenario``'s covariate shift."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(COLUMNS))), columns=COLUMNS)
    means, scales = SCENARIOS[scenario]
    for column, factor in scales.items():
        frame[column] *= factor
    for column, amount in means.items():
        frame[column] += amount
    logit = 1.5 * frame.x0 + frame.x1 - 0.8 * frame.x2**2 + 0.6 * frame.x3 * frame.x4 + 0.8
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, labels


def models() -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "LogisticRegression": make_pipeline(StandardScaler(), LogisticRegression()),
        "RandomForest": RandomForestClassifier(n_estimators=100, min_samples_leaf=5, random_state=0, n_jobs=1),
        "HistGradientBoosting": HistGradientBoostingClassifier(random_state=0),
    }


def evaluate(model: Any, sizes: list[int], windows: int, reference_seed: int) -> list[dict[str, Any]]:
    """Return one row per window size: errors overall and realized/estimated accuracy per scenario."""
    import numpy as np
    from sklearn.metrics import accuracy_score

    from drift import clients
    from drift.estimates import CLASSIFICATION_METRICS, estimate_min_rows, estimator_frame

    train_x, train_y = sample(TRAIN_ROWS, seed=1)
    model.fit(train_x, train_y)
    classes = list(model.classes_)
    reference_x, reference_y = sample(REFERENCE_ROWS, seed=reference_seed)
    reference = estimator_frame(
        classes, reference_x, model.predict(reference_x), model.predict_proba(reference_x), reference_y
    )
    started = time.perf_counter()
    fitted = clients.performance_estimator_fit(
        reference=reference, problem_type="classification_binary", metrics=list(CLASSIFICATION_METRICS),
        chunk_size=max(estimate_min_rows(), REFERENCE_ROWS // clients.REFERENCE_CHUNKS),
        y_pred_proba=clients.Y_PROBA,
    )  # fmt: skip
    fit_seconds = time.perf_counter() - started
    rows = []
    names = list(SCENARIOS)
    for size in sizes:
        errors, seconds = [], 0.0
        per_scenario: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
        for window in range(windows):
            scenario = names[window % len(names)]
            inputs, labels = sample(size, seed=1_000 * size + window, scenario=scenario)
            predicted = model.predict(inputs)
            subject = estimator_frame(classes, inputs, predicted, model.predict_proba(inputs), None)
            started = time.perf_counter()
            estimate = clients.performance_estimate(fitted=fitted, subject=subject)["accuracy"].value
            seconds += time.perf_counter() - started
            realized = accuracy_score(labels, predicted)
            errors.append(abs(estimate - realized))
            per_scenario[scenario].append((realized, estimate))
        rows.append({
            "size": size, "windows": windows, "mean": float(np.mean(errors)), "p90": float(np.percentile(errors, 90)),
            "reference": fitted.reference["accuracy"].realized, "fit_seconds": fit_seconds,
            "estimate_seconds": seconds / windows,
            "scenarios": {name: tuple(np.mean(values, axis=0)) for name, values in per_scenario.items()},
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--windows", type=int, default=50, help="windows per size (cycling through the scenarios)")
    parser.add_argument("--reference-seed", type=int, default=2, help="another draw of the 3,000 reference rows")
    args = parser.parse_args()
    setup_django()
    results = {name: evaluate(model, args.sizes, args.windows, args.reference_seed) for name, model in models().items()}

    print("Absolute error of estimated vs realized accuracy (CBPE fitted on a 3,000-row reference)")
    print(f"{'model':<21} {'rows':>5} {'windows':>7} {'mean':>7} {'p90':>7} {'reference':>9} {'fit s':>6} {'est s':>6}")
    for name, rows in results.items():
        for row in rows:
            print(f"{name:<21} {row['size']:>5} {row['windows']:>7} {row['mean']:>7.4f} {row['p90']:>7.4f} "
                  f"{row['reference']:>9.4f} {row['fit_seconds']:>6.2f} {row['estimate_seconds']:>6.3f}")  # fmt: skip
    print()
    print("Mean realized / estimated accuracy per scenario")
    print(f"{'model':<21} {'rows':>5} " + " ".join(f"{name:>15}" for name in SCENARIOS))
    for name, rows in results.items():
        for row in rows:
            cells = " ".join(f"{real:.3f} / {est:.3f}".rjust(15) for real, est in row["scenarios"].values())
            print(f"{name:<21} {row['size']:>5} {cells}")


if __name__ == "__main__":
    main()
