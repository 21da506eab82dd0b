"""Benchmark: predict latency of the compiled fast path (onnxruntime) against scikit-learn's pyfunc path.

A benchmark, not a test: it prints figures, it asserts nothing. In one process it fits the
service's pipeline around a random forest on breast_cancer, logs it to a temporary MLflow store
as training does, compiles it as training does, and times ``registry.serving.predict`` (what
POST /inference calls: MLflow's schema checks, then the model) on 1 row and on 1,000 rows, with
and without probabilities, through scikit-learn and through onnxruntime. No HTTP, no database:
the model alone, which for single rows sets the floor.

    .venv/bin/python bench/fast_path.py [--trees 100] [--repeats 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def setup(var_dir: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="mlservice.settings",
        MLSERVICE_VAR_DIR=var_dir,
        DATABASE_URL=f"sqlite:///{var_dir}/db.sqlite3",
        MLFLOW_TRACKING_URI=f"sqlite:///{var_dir}/mlflow.db",
        MLFLOW_ARTIFACT_ROOT=f"{var_dir}/mlartifacts",
        MLFLOW_ENABLE_TELEMETRY="false",
        DO_NOT_TRACK="1",
    )
    import django

    django.setup()


def timed(call: Callable[[], Any], repeats: int) -> float:
    """Return the median milliseconds of ``call`` over ``repeats`` runs, after a few warm-up runs."""
    for _ in range(5):
        call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    with tempfile.TemporaryDirectory(prefix="mlservice-bench-fast-path-") as var_dir:
        setup(var_dir)
        import pandas as pd
        from mlflow.models import infer_signature
        from sklearn.datasets import load_breast_cancer
        from sklearn.ensemble import RandomForestClassifier

        from models_api.compiling import pipeline_compile
        from models_api.pipelines import pipeline_build
        from registry import clients
        from registry.compiled import CompiledModel
        from registry.serving import ServedModel, predict

        features = load_breast_cancer(as_frame=True).frame
        target = features.pop("target")
        features = features.astype("float64")
        pipeline = pipeline_build(
            features=features, estimator=RandomForestClassifier(n_estimators=args.trees, random_state=0), scale=False
        ).fit(features, target)
        with clients.mlflow_run(run_name="bench", tags={}):
            example = features.head(5)
            uri = clients.model_log(
                model=pipeline, input_example=example, signature=infer_signature(example, pipeline.predict(example))
            )
        import mlflow.pyfunc

        pyfunc = mlflow.pyfunc.load_model(uri)
        compiled_at = time.perf_counter()
        compiled = pipeline_compile(pipeline=pipeline, rows=features)
        compile_seconds = time.perf_counter() - compiled_at
        if compiled.onnx_bytes is None:
            sys.exit(f"not compiled: {compiled.reason}")
        schema = pyfunc.metadata.get_input_schema()
        common: dict[str, Any] = {
            "name": "bench", "version": "1", "pyfunc": pyfunc, "estimator": pyfunc.get_raw_model(),
            "columns": tuple(schema.input_names()), "input_schema": schema,
        }  # fmt: skip
        sklearn_model = ServedModel(**common)
        graph = CompiledModel(compiled.onnx_bytes)
        onnx_model = ServedModel(**common, compiled=graph)

        print(f"{args.trees}-tree random forest on breast_cancer ({len(features)} rows, {features.shape[1]} columns)")
        print(f"compiled in {compile_seconds:.2f} s, {len(compiled.onnx_bytes) / 1024:.0f} KiB, {compiled.precision}")
        print(f"check: {compiled.check}")
        print()
        print(f"{'median ms (registry.serving.predict)':<40} {'scikit-learn':>13} {'onnxruntime':>12} {'ratio':>7}")
        for rows in (1, 1000):
            frame = pd.concat([features] * 2, ignore_index=True).sample(rows, random_state=0).reset_index(drop=True)
            for probabilities in (False, True):
                slow = timed(lambda f=frame, p=probabilities: predict(sklearn_model, f, probabilities=p), args.repeats)
                fast = timed(lambda f=frame, p=probabilities: predict(onnx_model, f, probabilities=p), args.repeats)
                label = f"{rows} row(s){' + probabilities' if probabilities else ''}"
                print(f"{label:<40} {slow:>13.3f} {fast:>12.3f} {slow / fast:>6.1f}x")
            checked = clients.schema_enforce(pyfunc=pyfunc, frame=frame)
            raw_onnx = timed(lambda c=checked: graph.run(c, probabilities=True), args.repeats)
            raw_sklearn = timed(lambda c=checked: pipeline.predict_proba(c), args.repeats)
            print(f"{f'{rows} row(s), model only (no schema check)':<40} {raw_sklearn:>13.3f} {raw_onnx:>12.3f} "
                  f"{raw_sklearn / raw_onnx:>6.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
