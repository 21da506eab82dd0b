"""Benchmark: one drift check of this service against Evidently's DataDriftPreset and a scipy floor.

A benchmark, not a test: it prints figures and asserts nothing. For 1,000, 10,000 and 100,000
rows x 25 columns (20 numeric, 5 categorical) it times, on the same frames in one run:

- mlservice: the whole check as the service runs it: load the drift sample from storage, compute
  with nannyml (fit on the baseline, cold; and again with the fitted reference cached, warm), record
  the DriftEvent and its MLflow run;
- Evidently 0.7.23's DataDriftPreset alone (it needs pandas < 3, so it runs in its own venv,
  bench/.venv-evidently, created on first use from PyPI);
- scipy's ks_2samp over the 20 numeric columns: a floor no real check beats.

Then (--million, on by default; --no-million to skip) whether a check holds a large subject in
bounded memory: one whole check of a 1,000,000-row subject (same 25 columns) against a stored
100,000-row baseline, in a child process, with the subject frame's size in memory beside the
child's RSS before the check and its peak during it.

    .venv/bin/python bench/drift.py [--sizes 1000 10000 100000] [--repeats 3] [--no-million] [--quick]

Needs PostgreSQL on 127.0.0.1:5432 (BENCH_DATABASE_URL to change); the scratch database
(mlservice_bench) is created if missing.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evidently_runner import ensure_evidently

ROOT = Path(__file__).resolve().parent.parent
MILLION_ROWS, MILLION_BASELINE_ROWS = 1_000_000, 100_000
MIB = 2**20
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


def ensure_database(url: str) -> None:
    """Create the database ``url`` names if it does not exist, through the server's `postgres` database."""
    import psycopg
    from psycopg import errors, sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        with contextlib.suppress(errors.DuplicateDatabase):  # created meanwhile by another run
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(scratch: Path, *, migrate: bool = True) -> None:
    database_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mlservice_bench")
    if migrate:
        ensure_database(database_url)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="mlservice.settings",
        DATABASE_URL=database_url,
        MLSERVICE_VAR_DIR=str(scratch),
        MLFLOW_TRACKING_URI=f"sqlite:///{scratch}/mlflow.db",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    if migrate:
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


def measure_million(scratch: Path) -> None:
    """Run one check of a 1,000,000-row subject in a child process and print its memory."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--million-child", str(scratch)], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "MLSERVICE_VAR_DIR": str(scratch)})  # fmt: skip
    assert child.stdout is not None
    output = child.stdout.read()
    # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix in the Evidently runs).
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        print(f"1,000,000-row check: the child failed (exit code {child.returncode})")
        return
    found = json.loads(output.strip().splitlines()[-1])
    subject, before = found["subject_bytes"] / MIB, found["rss_before"] / MIB
    print(f"\none check of a {MILLION_ROWS:,}-row subject (25 columns) against a stored {MILLION_BASELINE_ROWS:,}-row "
          f"baseline, in a child process ({time.perf_counter() - started:.0f} s in all):")  # fmt: skip
    baseline = found["baseline_bytes"] / MIB
    print(f"  subject frame in memory        {subject:8.0f} MiB  (baseline frame {baseline:.0f} MiB)")
    print(f"  child RSS before the check     {before:8.0f} MiB  (subject frame built, baseline stored and freed)")
    if found["peak_during"] is not None:
        peak = found["peak_during"] / MIB
        print(f"  peak RSS during the check      {peak:8.0f} MiB  (+{peak - before:.0f} MiB over before: "
              f"{(peak - before) / subject:.1f}x the subject frame)")  # fmt: skip
    print(f"  child peak RSS (ru_maxrss)     {usage.ru_maxrss / 1024:8.0f} MiB  (whole life, building the frames too)")
    print(f"  check: {found['seconds']:.1f} s, status {found['status']}, drift_detected {found['drift_detected']}, "
          f"methods {found['methods']}")  # fmt: skip


def million_child(scratch: Path) -> None:
    """In the child: build the frames, store the baseline as a drift sample, run one whole check, print JSON."""
    import psutil

    setup_django(scratch, migrate=False)
    from drift.models import DriftEvent
    from drift.services import DriftCheck, drift_check_run, drift_sample_create, drift_sample_frame

    subject = frames(MILLION_ROWS, seed=3)
    baseline = frames(MILLION_BASELINE_ROWS, seed=4)
    found = {"subject_bytes": int(subject.memory_usage(deep=True).sum()),
             "baseline_bytes": int(baseline.memory_usage(deep=True).sum())}  # fmt: skip
    sample = drift_sample_create(frame=baseline, target="", model_name="bench-million", run=None)
    del baseline
    gc.collect()
    found["rss_before"] = psutil.Process().memory_info().rss
    peak_reset = _reset_peak_rss()
    started = time.perf_counter()
    baseline = drift_sample_frame(sample=sample)
    event = drift_check_run(check=DriftCheck(subject=subject, baseline=baseline, trigger=DriftEvent.Trigger.COMMAND,
                                             model_name="bench-million", model_version="1", sample=sample))  # fmt: skip
    found["seconds"] = time.perf_counter() - started
    found["peak_during"] = _peak_rss() if peak_reset else None
    found["status"], found["drift_detected"] = event.status, event.drift_detected
    found["methods"] = sorted({feature["method"] for feature in event.features})
    print(json.dumps(found))


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux: VmHWM); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--million", action=argparse.BooleanOptionalAction, default=True,
                        help="also check a 1,000,000-row subject in a child process and print its memory")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a smoke run: --sizes 1000 --repeats 1")
    parser.add_argument("--million-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeats = [1000], 1
    if args.million_child:
        million_child(args.million_child)
        return

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
    if args.million:
        measure_million(scratch)


if __name__ == "__main__":
    main()
