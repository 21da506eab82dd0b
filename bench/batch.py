"""Benchmark: batch scoring (`manage.py score`, which stores every row) against `mlflow models predict`.

A benchmark, not a test: it prints figures, it asserts nothing. It trains a 100-tree forest on
breast_cancer (30 numeric columns; the version gets the ONNX fast path), writes CSV files of N
rows drawn from the dataset with noise into the datasets storage, and scores each file twice:

- `manage.py score --uri rows-N.csv`: reads in chunks (MLSERVICE_BATCH_CHUNK_ROWS), predicts with
  the fast path, and stores every row with its inputs and probabilities in PostgreSQL (COPY);
- `mlflow models predict -i rows-N.csv -t csv --env-manager local`: reads the whole file, predicts
  with scikit-learn, writes the predictions to a JSON file, stores nothing.

It prints wall time, rows/s and the peak resident memory of each run (the process and the
children it waited for, from wait4), so the sizes show whether memory follows the file.

    .venv/bin/python bench/batch.py [--rows 100000,1000000] [--trees 100] [--chunk-rows 50000]

Needs PostgreSQL on 127.0.0.1:5432 (BENCH_DATABASE_URL to change); uses a scratch database
`mlservice_bench_batch` (dropped and created again), a temporary MLflow store and var/ directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MODEL = "bench-batch"


def environment(scratch: Path, chunk_rows: int) -> dict[str, str]:
    database_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mlservice_bench_batch")
    _recreate_database(database_url)
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DJANGO_SETTINGS_MODULE": "mlservice.settings",
        "DATABASE_URL": database_url,
        "MLSERVICE_VAR_DIR": str(scratch),
        "MLFLOW_TRACKING_URI": f"sqlite:///{scratch}/mlflow.db",
        "MLSERVICE_BATCH_CHUNK_ROWS": str(chunk_rows),
        "MLSERVICE_DRIFT_MONITOR_ENABLED": "false",
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "DO_NOT_TRACK": "1",
        "NML_DISABLE_USAGE_LOGGING": "1",
    }


def _recreate_database(url: str) -> None:
    import psycopg

    admin_url, name = url.rsplit("/", 1)[0] + "/postgres", url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def prepare(env: dict[str, str], trees: int) -> None:
    manage = [str(BIN / "python"), "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    spec = {"model_name": MODEL, "data": {"builtin": "breast_cancer"}, "params": {"n_estimators": trees}}
    spec_file = Path(env["MLSERVICE_VAR_DIR"]) / "spec.json"
    spec_file.write_text(json.dumps(spec))
    subprocess.run([*manage, "train", "--spec", str(spec_file)], cwd=ROOT, env=env, check=True, capture_output=True)


def write_rows(path: Path, rows: int) -> None:
    """Write ``rows`` rows of breast_cancer's features, resampled with 5% noise, as CSV."""
    from sklearn.datasets import load_breast_cancer

    features = load_breast_cancer(as_frame=True).frame.drop(columns=["target"])
    rng = np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = True
    with path.open("w") as handle:
        for start in range(0, rows, 200_000):
            size = min(200_000, rows - start)
            sample = features.sample(n=size, replace=True, random_state=int(rng.integers(1 << 31)))
            noisy = sample * rng.normal(1.0, 0.05, size=sample.shape)
            noisy.round(5).to_csv(handle, index=False, header=header)
            header = False


def measured(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Run ``command``; return (wall seconds, peak RSS in MiB of it and the children it waited for)."""
    began = time.monotonic()
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{command[:3]} failed ({process.returncode}); see {log}:\n{log.read_text()[-2000:]}")
    return time.monotonic() - began, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="100000,1000000", help="Comma-separated file sizes in rows.")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--keep", action="store_true", help="Keep the scratch directory.")
    args = parser.parse_args()
    sizes = [int(size) for size in args.rows.split(",")]

    scratch = Path(tempfile.mkdtemp(prefix="mlservice-bench-batch-"))
    try:
        env = environment(scratch, args.chunk_rows)
        prepare(env, args.trees)
        print(f"model: {args.trees}-tree forest on breast_cancer (30 columns); chunks of {args.chunk_rows} rows")
        print(f"{'rows':>10}  {'tool':<24} {'seconds':>8} {'rows/s':>9} {'peak MiB':>9}")
        for rows in sizes:
            name = f"rows-{rows}.csv"
            write_rows(scratch / "datasets" / name, rows)
            runs = {
                "manage.py score (+store)": [str(BIN / "python"), "manage.py", "score", "--model", MODEL, "--uri",
                                             name],
                "mlflow models predict": [str(BIN / "mlflow"), "models", "predict", "-m", f"models:/{MODEL}/1",
                                          "-i", str(scratch / "datasets" / name), "-t", "csv", "-o",
                                          str(scratch / f"mlflow-{rows}.json"), "--env-manager", "local"],
            }  # fmt: skip
            for tool, command in runs.items():
                seconds, peak = measured(command, env, scratch / f"{tool.split()[0]}-{rows}.log")
                print(f"{rows:>10,}  {tool:<24} {seconds:>8.1f} {rows / seconds:>9,.0f} {peak:>9,.0f}", flush=True)
        print("Wall times include each process's start (imports, loading the model: ~10-20 s).")
    finally:
        if args.keep:
            print(f"scratch kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
