"""Benchmark: one drift check of this service against Evidently's DataDriftPreset and a scipy floor.

A benchmark, not a test: it prints figures and asserts nothing. For 1,000, 10,000 and 100,000
rows x 25 columns (20 numeric, 5 categorical) it times, on the same frames in one run:

- mlservice: the whole check as the service runs it: load the drift sample from storage, compute
  with nannyml (fit on the baseline, cold; and again with the fitted reference cached, warm), record
  the DriftEvent and its MLflow run;
- Evidently 0.7.23's DataDriftPreset alone (it needs pandas < 3, so it runs in its own venv,
  bench/.venv-evidently, created on first use from PyPI);
- scipy's ks_2samp over the 20 numeric columns: a floor no real check beats.

    .venv/bin/python bench/drift.py [--sizes 1000 10000 100000] [--repeats 3]

Needs PostgreSQL on 127.0.0.1:5432 (BENCH_DATABASE_URL to change; scratch database mlservice_bench).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVIDENTLY_VENV = ROOT / "bench" / ".venv-evidently"
EVIDENTLY_SCRIPT = """
import json, sys, time
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
reference, current, repeats = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2]), int(sys.argv[3])
Report([DataDriftPreset()]).run(current_data=current.head(200), reference_data=reference.head(200))  # warm-up
timings = []
for _ in range(repeats):
    started = time.perf_counter()
    Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    timings.append(time.perf_counter() - started)
print(json.dumps(timings))
"""


def frames(rows: int, seed: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 20)), columns=[f"num_{i}" for i in range(20)])
    for i in range(5):
        frame[f"cat_{i}"] = rng.choice(["a", "b", "c", "d", "e", "f"], size=rows)
    return frame


def ensure_evidently() -> Path:
    python = EVIDENTLY_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        uv = Path(sys.executable).with_name("uv")
        subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python),
                        "evidently==0.7.23", "pandas<3", "pyarrow"], check=True)  # fmt: skip
    return python


def setup_django(scratch: Path) -> None:
    database_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mlservice_bench")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="mlservice.settings",
        DATABASE_URL=database_url,
        MLSERVICE_VAR_DIR=str(scratch),
        MLFLOW_TRACKING_URI=f"sqlite:///{scratch}/mlflow.db",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def time_service(reference, current, repeats: int) -> tuple[float, float, str]:
    """Return (cold, warm) seconds of a whole check (load sample, compute, record event and run) and its status."""
    from drift.clients import calculator_cache
    from drift.models import DriftEvent
    from drift.services import DriftCheck, drift_check_run, drift_sample_create, drift_sample_frame

    sample = drift_sample_create(frame=reference, target="", model_name="bench", run=None)

    status = []

    def check() -> float:
        started = time.perf_counter()
        baseline = drift_sample_frame(sample=sample)
        event = drift_check_run(check=DriftCheck(subject=current, baseline=baseline, trigger=DriftEvent.Trigger.COMMAND,
                                                 model_name="bench", model_version="1", sample=sample))  # fmt: skip
        status.append(event.status)
        return time.perf_counter() - started

    cold = []
    for _ in range(repeats):
        calculator_cache.clear()
        cold.append(check())
    warm = [check() for _ in range(repeats)]
    return min(cold), min(warm), status[-1]


def time_ks(reference, current, repeats: int) -> float:
    from scipy.stats import ks_2samp

    numeric = [column for column in reference.columns if column.startswith("num_")]
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        for column in numeric:
            ks_2samp(reference[column].to_numpy(), current[column].to_numpy())
        timings.append(time.perf_counter() - started)
    return min(timings)


def time_evidently(python: Path, reference, current, repeats: int, scratch: Path) -> float:
    reference_file, current_file = scratch / "reference.parquet", scratch / "current.parquet"
    reference.to_parquet(reference_file)
    current.to_parquet(current_file)
    result = subprocess.run([str(python), "-c", EVIDENTLY_SCRIPT, str(reference_file), str(current_file), str(repeats)],
                            check=True, capture_output=True, text=True)  # fmt: skip
    return min(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    python = ensure_evidently()
    scratch = Path(tempfile.mkdtemp(prefix="mlservice-bench-drift-"))
    setup_django(scratch)
    print("one drift check, 25 columns (20 numeric, 5 categorical); best of", args.repeats, "runs; seconds")
    print(f"{'rows':>8} {'mlservice cold':>15} {'mlservice warm':>15} {'Evidently':>10} {'ks_2samp':>9} "
          f"{'Evidently/cold':>15} {'Evidently/warm':>15}  status")  # fmt: skip
    for rows in args.sizes:
        reference, current = frames(rows, seed=1), frames(rows, seed=2)
        cold, warm, status = time_service(reference, current, args.repeats)
        evidently = time_evidently(python, reference, current, args.repeats, scratch)
        floor = time_ks(reference, current, args.repeats)
        print(f"{rows:>8} {cold:>15.3f} {warm:>15.3f} {evidently:>10.3f} {floor:>9.4f} "
              f"{evidently / cold:>14.1f}x {evidently / warm:>14.1f}x  {status}")  # fmt: skip


if __name__ == "__main__":
    main()
