"""Benchmark: POST /inference (which stores every row) against `mlflow models serve` (which stores nothing).

A benchmark, not a test: it prints figures, it asserts nothing. In one invocation it trains a
100-tree random forest (served by the compiled fast path) and a HistGradientBoostingClassifier
(which skl2onnx can't convert: served by scikit-learn) on breast_cancer (30 columns), then for
each model and each worker count serves it with `mlflow models serve` and with this service
under gunicorn (same model, same number of workers, every row stored in PostgreSQL) and drives
both with the same load from wrk: single-row requests at concurrency 1 and 8, and 1,000-row
requests at concurrency 1. The two servers alternate within each round (which goes first
swaps every round); the table gives medians over the rounds, the ratio (service / mlflow) is the
median of the rounds' ratios, and each server's worker RSS after the load.

    .venv/bin/python bench/inference.py [--models forest hgb] [--workers 1 2] [--rounds 3] [--seconds 10]

Needs PostgreSQL on 127.0.0.1:5432 (BENCH_DATABASE_URL to change) and `wrk` (apt-get install wrk;
without it a slower Python client drives the load); uses a scratch database `mlservice_bench`, a
temporary MLflow store and loopback ports only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
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


MODELS = {
    "forest": {"estimator": "RandomForestClassifier", "params": {"n_estimators": 100}},
    "hgb": {"estimator": "HistGradientBoostingClassifier", "params": {}},
}
SCENARIOS = (("1 row, c=1", 1, 1), ("1 row, c=8", 1, 8), ("1000 rows, c=1", 1000, 1))
WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
WRK_SCRIPT = """
local file = io.open("{body}", "rb")
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
{headers}
"""


def prepare_models(env: dict[str, str], names: list[str]) -> None:
    """Train each named model on breast_cancer (as POST /train does) and make a token."""
    manage = [str(BIN / "python"), "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    for name in names:
        spec = {"model_name": f"bench-{name}", "data": {"builtin": "breast_cancer"}, **MODELS[name]}
        spec_file = Path(env["MLSERVICE_VAR_DIR"]) / f"spec-{name}.json"
        spec_file.write_text(json.dumps(spec))
        done = subprocess.run(
            [*manage, "train", "--spec", str(spec_file)], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        )
        result = json.loads(done.stdout[done.stdout.index("{") :])
        print(f"trained bench-{name} v{result['model_version']}")
    token = subprocess.run(
        [*manage, "createapitoken", "bench"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    env["BENCH_TOKEN"] = token.stdout.strip().splitlines()[-1]


@dataclass
class Figures:
    requests: int
    rps: float
    p50: float
    p99: float
    errors: int


def drive_wrk(
    port: int, path: str, body_file: Path, headers: dict[str, str], *, concurrency: int, seconds: float
) -> Figures:
    """Run wrk (one thread, ``concurrency`` keep-alive connections) for ``seconds``; parse its summary."""
    header_lines = "\n".join(f'wrk.headers["{key}"] = "{value}"' for key, value in headers.items())
    script = body_file.with_suffix(".lua")
    script.write_text(WRK_SCRIPT.format(body=body_file, headers=header_lines))
    output = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:.0f}s", "--timeout", "60s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}{path}"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    percentiles = {
        match[1]: float(match[2]) * WRK_UNITS[match[3]]
        for match in re.finditer(r"^\s+(50|99)\.000%?\s+([\d.]+)(us|ms|s)\b", output, re.MULTILINE)
    }
    if not percentiles:
        percentiles = {
            match[1]: float(match[2]) * WRK_UNITS[match[3]]
            for match in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\b", output, re.MULTILINE)
        }
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(non_2xx[1]) if non_2xx else 0) + (sum(map(int, socket_errors.groups())) if socket_errors else 0)
    requests = int(re.search(r"(\d+) requests in", output)[1])  # type: ignore[index]
    return Figures(requests=requests - errors, rps=rps, p50=percentiles["50"], p99=percentiles["99"], errors=errors)


def drive_any(
    port: int, path: str, body_file: Path, headers: dict[str, str], *, concurrency: int, seconds: float
) -> Figures:
    if shutil.which("wrk"):
        return drive_wrk(port, path, body_file, headers, concurrency=concurrency, seconds=seconds)
    result = drive(port, path, body_file.read_bytes(), headers, concurrency=concurrency, seconds=seconds)
    return Figures(result.requests, result.rps, result.percentile(50), result.percentile(99), result.errors)


def worker_rss(process: subprocess.Popen) -> list[float]:
    """Return the RSS in MiB of each process that answers requests: the leaves of the server's tree.

    gunicorn: its workers (the arbiter is their parent). `mlflow models serve`: uvicorn itself with
    one worker, its worker processes with more (a multiprocessing helper under 50 MiB is left out).
    """
    import psutil

    tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    leaves = [proc for proc in tree if not proc.children()]
    return [rss for proc in leaves if (rss := proc.memory_info().rss / 2**20) > 50]


def stored_rows(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as connection:
        return connection.execute("SELECT count(*) FROM predictions_prediction").fetchone()[0]  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["forest", "hgb"])
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class (sync or gthread)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn gthread threads per worker")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="mlservice-bench-"))
    env = bench_environment(scratch)
    try:
        prepare_models(env, args.models)
        bodies = write_bodies(scratch, args.models)
        print(f"wrk: {'yes' if shutil.which('wrk') else 'no (Python client)'}; gunicorn {args.worker_class}, "
              f"{args.threads} threads/worker; {args.seconds:.0f} s per run, {args.rounds} rounds, servers "
              f"alternating; prediction store: PostgreSQL; p50/p99 in ms; ratio = service / mlflow, "
              f"median of the rounds' ratios")  # fmt: skip
        for name in args.models:
            for workers in args.workers:
                compare(args, env, scratch, bodies, name, workers)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_bodies(scratch: Path, names: list[str]) -> dict[tuple[str, str, int], Path]:
    """Write the request bodies once: (server, model, rows) -> file."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.drop(columns=["target"])
    bodies = {}
    for rows in {rows for _, rows, _ in SCENARIOS}:
        split = frame.sample(rows, replace=True, random_state=0).to_dict(orient="split", index=False)
        path = scratch / f"mlflow-{rows}.json"
        path.write_text(json.dumps({"dataframe_split": split}))
        for name in names:
            bodies[("mlflow", name, rows)] = path
            ours = scratch / f"service-{name}-{rows}.json"
            ours.write_text(json.dumps({"model_name": f"bench-{name}", "model_version": "1", "dataframe_split": split}))
            bodies[("service", name, rows)] = ours
    return bodies


def compare(
    args: argparse.Namespace,
    env: dict[str, str],
    scratch: Path,
    bodies: dict[tuple[str, str, int], Path],
    name: str,
    workers: int,
) -> None:
    mlflow_port, service_port = free_port(), free_port()
    mlflow_server = start(
        [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/bench-{name}/1", "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(mlflow_port), "-w", str(workers)],
        env, scratch / f"mlflow-serve-{name}-{workers}.log",
    )  # fmt: skip
    service = start(
        [str(BIN / "gunicorn"), "mlservice.wsgi:application", "--bind", f"127.0.0.1:{service_port}",
         "--workers", str(workers), "--worker-class", args.worker_class, "--threads", str(args.threads),
         "--no-control-socket", "--log-level", "warning"],
        env, scratch / f"gunicorn-{name}-{workers}.log",
    )  # fmt: skip
    json_headers = {"Content-Type": "application/json"}
    servers = {
        "mlflow": (mlflow_port, "/invocations", json_headers),
        "service": (service_port, "/inference", {**json_headers, "Authorization": f"Token {env['BENCH_TOKEN']}"}),
    }
    figures: dict[tuple[str, str], list[Figures]] = {}
    try:
        wait_for(mlflow_port, "/ping")
        wait_for(service_port, "/health")
        stored_before = stored_rows(env["DATABASE_URL"])
        answered = 0
        for round_index in range(args.rounds):
            order = ("mlflow", "service") if round_index % 2 == 0 else ("service", "mlflow")
            for scenario, rows, concurrency in SCENARIOS:
                for server in order:
                    port, path, headers = servers[server]
                    body = bodies[(server, name, rows)]
                    if round_index == 0:  # warm: model load, caches, connections
                        warm = drive_any(port, path, body, headers, concurrency=concurrency, seconds=2)
                        answered += warm.requests * rows if server == "service" else 0
                    result = drive_any(port, path, body, headers, concurrency=concurrency, seconds=args.seconds)
                    answered += result.requests * rows if server == "service" else 0
                    figures.setdefault((scenario, server), []).append(result)
        stored = stored_rows(env["DATABASE_URL"]) - stored_before
        rss = {server: worker_rss(process) for server, process in (("mlflow", mlflow_server), ("service", service))}
    finally:
        stop(mlflow_server)
        stop(service)
    report(name, workers, figures, rss, answered, stored)


def report(
    name: str,
    workers: int,
    figures: dict[tuple[str, str], list[Figures]],
    rss: dict[str, list[float]],
    answered: int,
    stored: int,
) -> None:
    served = "fast path (onnxruntime)" if name == "forest" else "fallback (scikit-learn)"
    print()
    print(f"== {MODELS[name]['estimator']} on breast_cancer, {served}; {workers} worker(s) each ==")
    print(f"{'scenario':<16} {'server':<22} {'req/s':>8} {'p50':>8} {'p99':>8} {'errors':>7}")
    labels = {"mlflow": "mlflow models serve", "service": "mlservice /inference"}
    for scenario, _, _ in SCENARIOS:
        for server in ("mlflow", "service"):
            runs = figures[(scenario, server)]
            print(f"{scenario:<16} {labels[server]:<22} {statistics.median(r.rps for r in runs):>8.1f} "
                  f"{statistics.median(r.p50 for r in runs):>8.2f} {statistics.median(r.p99 for r in runs):>8.2f} "
                  f"{sum(r.errors for r in runs):>7}")  # fmt: skip
        pairs = list(zip(figures[(scenario, "service")], figures[(scenario, "mlflow")], strict=True))
        print(f"{scenario:<16} {'ratio (ours/mlflow)':<22} "
              f"{statistics.median(o.rps / m.rps for o, m in pairs):>8.2f} "
              f"{statistics.median(o.p50 / m.p50 for o, m in pairs):>8.2f} "
              f"{statistics.median(o.p99 / m.p99 for o, m in pairs):>8.2f}")  # fmt: skip
    mine, theirs = statistics.mean(rss["service"]), statistics.mean(rss["mlflow"])
    print(f"worker RSS MiB (mean of {len(rss['service'])} / {len(rss['mlflow'])}): mlservice {mine:.0f}, "
          f"mlflow models serve {theirs:.0f}, ratio {mine / theirs:.2f}")  # fmt: skip
    print(f"rows answered 200: {answered}; rows stored: {stored}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
