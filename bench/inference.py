"""Benchmark: POST /inference (which stores every row) against `mlflow models serve` (which stores nothing).

A benchmark, not a test: it prints figures, it asserts nothing. In one run it trains a model on a
bundled dataset, serves it with `mlflow models serve` and with this service under gunicorn (same
number of workers, prediction store on PostgreSQL), and drives both with the same load:
single-row requests at concurrency 1 and 8, and 1,000-row requests. It prints requests/s, p50 and
p99 of each and the ratios (service / mlflow).

    .venv/bin/python bench/inference.py [--seconds 15] [--workers 2] [--trees 100]

Needs PostgreSQL on 127.0.0.1:5432 (BENCH_DATABASE_URL to change); uses a scratch database
`mlservice_bench`, a temporary MLflow store and loopback ports only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MODEL = "bench-iris"


@dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, path: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"nothing answered on port {port}{path}")


def drive(port: int, path: str, body: bytes, headers: dict[str, str], *, concurrency: int, seconds: float) -> Result:
    """Send ``body`` from ``concurrency`` keep-alive clients for ``seconds``; collect latencies."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        failed = 0
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
            if ok:
                mine.append((time.perf_counter() - started) * 1000)
            else:
                failed += 1
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Result(len(latencies), errors[0], time.monotonic() - began, latencies)


def bench_environment(scratch: Path) -> dict[str, str]:
    """Return the environment of a benchmark run: a fresh scratch PostgreSQL database and MLflow store."""
    database_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mlservice_bench")
    ensure_database(database_url)
    (scratch / "prometheus").mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        # `mlflow models serve` runs `uvicorn` through bash: it must be on PATH.
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DJANGO_SETTINGS_MODULE": "mlservice.settings",
        "DATABASE_URL": database_url,
        "MLSERVICE_VAR_DIR": str(scratch),
        "MLFLOW_TRACKING_URI": f"sqlite:///{scratch}/mlflow.db",
        "PROMETHEUS_MULTIPROC_DIR": str(scratch / "prometheus"),
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "DO_NOT_TRACK": "1",
        "NML_DISABLE_USAGE_LOGGING": "1",
    }


def prepare(env: dict[str, str], trees: int) -> None:
    manage = [str(BIN / "python"), "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    spec = {"model_name": MODEL, "data": {"builtin": "iris"}, "params": {"n_estimators": trees}}
    spec_file = Path(env["MLSERVICE_VAR_DIR"]) / "spec.json"
    spec_file.write_text(json.dumps(spec))
    subprocess.run([*manage, "train", "--spec", str(spec_file)], cwd=ROOT, env=env, check=True, capture_output=True)
    token = subprocess.run(
        [*manage, "createapitoken", "bench"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    env["BENCH_TOKEN"] = token.stdout.strip().splitlines()[-1]


def ensure_database(url: str) -> None:
    import psycopg

    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class (sync or gthread)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn gthread threads per worker")
    parser.add_argument("--trees", type=int, default=100)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="mlservice-bench-"))
    env = bench_environment(scratch)
    prepare(env, args.trees)

    mlflow_port, service_port = free_port(), free_port()
    mlflow_server = start(
        [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{MODEL}/1", "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(mlflow_port), "-w", str(args.workers)],
        env, scratch / "mlflow-serve.log",
    )  # fmt: skip
    service = start(
        [str(BIN / "gunicorn"), "mlservice.wsgi:application", "--bind", f"127.0.0.1:{service_port}",
         "--workers", str(args.workers), "--worker-class", args.worker_class, "--threads", str(args.threads),
         "--no-control-socket", "--log-level", "warning"],
        env, scratch / "gunicorn.log",
    )  # fmt: skip
    try:
        wait_for(mlflow_port, "/ping")
        wait_for(service_port, "/health")
        report(args, env, mlflow_port, service_port)
    finally:
        stop(mlflow_server)
        stop(service)
        shutil.rmtree(scratch, ignore_errors=True)


def report(args: argparse.Namespace, env: dict[str, str], mlflow_port: int, service_port: int) -> None:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame.drop(columns=["target"])
    rows_1000 = frame.sample(1000, replace=True, random_state=0)
    one_row = frame.head(1)
    scenarios = [("1 row, c=1", one_row, 1), ("1 row, c=8", one_row, 8), ("1000 rows, c=1", rows_1000, 1)]
    json_headers = {"Content-Type": "application/json"}
    service_headers = {**json_headers, "Authorization": f"Token {env['BENCH_TOKEN']}"}

    print(f"model: RandomForestClassifier, {args.trees} trees on iris; {args.workers} workers each "
          f"(gunicorn {args.worker_class}, {args.threads} threads); "
          f"{args.seconds:.0f} s per scenario; prediction store: PostgreSQL (COPY)")  # fmt: skip
    print(f"{'scenario':<16} {'server':<22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, data, concurrency in scenarios:
        split = data.to_dict(orient="split", index=False)
        mlflow_body = json.dumps({"dataframe_split": split}).encode()
        service_body = json.dumps({"model_name": MODEL, "model_version": "1", "dataframe_split": split}).encode()
        # Warm both: model load, caches, connections.
        drive(mlflow_port, "/invocations", mlflow_body, json_headers, concurrency=concurrency, seconds=2)
        drive(service_port, "/inference", service_body, service_headers, concurrency=concurrency, seconds=2)
        reference = drive(
            mlflow_port, "/invocations", mlflow_body, json_headers, concurrency=concurrency, seconds=args.seconds
        )
        ours = drive(
            service_port, "/inference", service_body, service_headers, concurrency=concurrency, seconds=args.seconds
        )
        for server, result in (("mlflow models serve", reference), ("mlservice /inference", ours)):
            print(f"{name:<16} {server:<22} {result.rps:>8.1f} {result.percentile(50):>8.2f} "
                  f"{result.percentile(99):>8.2f} {result.errors:>7}")  # fmt: skip
        print(f"{name:<16} {'ratio (ours/mlflow)':<22} {ours.rps / reference.rps:>8.2f} "
              f"{ours.percentile(50) / reference.percentile(50):>8.2f} "
              f"{ours.percentile(99) / reference.percentile(99):>8.2f}")  # fmt: skip


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
