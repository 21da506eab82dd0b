"""Load test: POST /inference at a fixed concurrency for a fixed time against gunicorn + PostgreSQL.

Bounded and on loopback only. It checks what a production run must hold: no errors, no lost
predictions (rows stored = rows answered), and memory that stops growing (worker RSS sampled
every few seconds; the growth over the second half of the run is what counts, after warm-up).

    .venv/bin/python bench/load.py [--seconds 120] [--concurrency 8] [--rows 10] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inference import BIN, MODEL, bench_environment, drive, free_port, prepare, start, stop, wait_for


def sample_memory(server_pid: int, stop_event: threading.Event, samples: list[tuple[float, float]]) -> None:
    """Record (seconds since start, total RSS in MiB of gunicorn's workers) every 5 s."""
    started = time.monotonic()
    while not stop_event.wait(5):
        try:
            workers = psutil.Process(server_pid).children(recursive=True)
            rss = sum(worker.memory_info().rss for worker in workers) / 2**20
        except psutil.Error:
            continue
        samples.append((time.monotonic() - started, rss))


def stored_rows(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as connection:
        return connection.execute("SELECT count(*) FROM predictions_prediction").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rows", type=int, default=10, help="rows per request")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trees", type=int, default=100)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="mlservice-load-"))
    env = bench_environment(scratch)
    database_url = env["DATABASE_URL"]
    prepare(env, args.trees)
    port = free_port()
    env.update(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS=str(args.workers))
    server = start([str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "mlservice.wsgi:application"],
                   env, scratch / "gunicorn.log")  # fmt: skip
    try:
        wait_for(port, "/health")
        from sklearn.datasets import load_iris

        rows = load_iris(as_frame=True).frame.drop(columns=["target"]).head(args.rows)
        body = json.dumps({"model_name": MODEL, "dataframe_split": rows.to_dict(orient="split", index=False)}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Token {env['BENCH_TOKEN']}"}
        drive(port, "/inference", body, headers, concurrency=args.concurrency, seconds=5)  # warm-up
        before = stored_rows(database_url)
        samples: list[tuple[float, float]] = []
        stop_sampling = threading.Event()
        sampler = threading.Thread(target=sample_memory, args=(server.pid, stop_sampling, samples))
        sampler.start()
        result = drive(port, "/inference", body, headers, concurrency=args.concurrency, seconds=args.seconds)
        stop_sampling.set()
        sampler.join()
        stored = stored_rows(database_url) - before
    finally:
        stop(server)
        shutil.rmtree(scratch, ignore_errors=True)

    half = [rss for moment, rss in samples if moment >= args.seconds / 2]
    print(f"{args.seconds:.0f} s at concurrency {args.concurrency}, {args.rows} rows/request, "
          f"{args.workers} gunicorn workers, PostgreSQL store")  # fmt: skip
    print(f"requests answered 200: {result.requests}  errors: {result.errors}  req/s: {result.rps:.1f}  "
          f"p50 {result.percentile(50):.1f} ms  p99 {result.percentile(99):.1f} ms")  # fmt: skip
    print(f"rows answered: {result.requests * args.rows}  rows stored: {stored}  "
          f"lost: {result.requests * args.rows - stored}")  # fmt: skip
    if samples:
        print(f"worker RSS MiB: first {samples[0][1]:.0f}, peak {max(r for _, r in samples):.0f}, "
              f"last {samples[-1][1]:.0f}; growth over the second half: {half[-1] - half[0]:+.1f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
