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


def timed(call: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Return the median (wall, CPU) milliseconds of ``call`` over ``repeats`` runs, after a few warm-up runs.

    CPU time is this thread's: both paths compute in the calling thread (scikit-learn with n_jobs unset,
    onnxruntime with one intra-op thread), so on a busy machine it shows the work without the waiting.
    """
    for _ in range(5):
        call()
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.thread_time()
        call()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def row(label: str, slow: tuple[float, float], fast: tuple[float, float]) -> str:
    return (
        f"{label:<40} {slow[0]:>9.3f} {fast[0]:>9.3f} {slow[0] / fast[0]:>6.1f}x"
        f" {slow[1]:>9.3f} {fast[1]:>9.3f} {slow[1] / max(fast[1], 1e-6):>6.1f}x"
    )


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
            "name": "bench", "version": "1", "pyfunc": pyfunc, "columns": tuple(schema.input_names()),
            "input_schema": schema, "params_schema": pyfunc.metadata.get_params_schema(),
        }  # fmt: skip
        sklearn_model = ServedModel(**common)
        graph = CompiledModel(compiled.onnx_bytes)
        onnx_model = ServedModel(**common, compiled=graph)

        print(f"{args.trees}-tree random forest on breast_cancer ({len(features)} rows, {features.shape[1]} columns)")
        print(f"compiled in {compile_seconds:.2f} s, {len(compiled.onnx_bytes) / 1024:.0f} KiB, {compiled.precision}")
        print(f"check: {compiled.check}")
        print()
        print(f"median ms, registry.serving.predict       {'wall':-^26} {'thread CPU':-^26}")
        print(f"{'':<40} {'sklearn':>9} {'onnx':>9} {'ratio':>7} {'sklearn':>9} {'onnx':>9} {'ratio':>7}")
        for rows in (1, 1000):
            frame = pd.concat([features] * 2, ignore_index=True).sample(rows, random_state=0).reset_index(drop=True)
            for probabilities in (False, True):
                slow = timed(lambda f=frame, p=probabilities: predict(sklearn_model, f, probabilities=p), args.repeats)
                fast = timed(lambda f=frame, p=probabilities: predict(onnx_model, f, probabilities=p), args.repeats)
                print(row(f"{rows} row(s){' + probabilities' if probabilities else ''}", slow, fast))
            checked = clients.schema_enforce(
                input_schema=schema, params_schema=None, loader_module="mlflow.sklearn", frame=frame
            )
            slow = timed(lambda c=checked: pipeline.predict_proba(c), args.repeats)
            fast = timed(lambda c=checked: graph.run(c, probabilities=True), args.repeats)
            print(row(f"{rows} row(s), probabilities, model only", slow, fast))
            checks = timed(
                lambda f=frame: clients.schema_enforce(
                    input_schema=schema, params_schema=None, loader_module="mlflow.sklearn", frame=f
                ),
                args.repeats,
            )
            print(f"{f'{rows} row(s), MLflow schema check alone':<40} {checks[0]:>9.3f} {'':>17} {checks[1]:>9.3f}")


if __name__ == "__main__":
    main()
