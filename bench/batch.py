"""Benchmark: batch scoring (`manage.py score`, which stores every row) against `mlflow models predict`.

A benchmark, not a test: it prints figures, it asserts nothing. It trains a 100-tree forest on
breast_cancer (30 numeric columns; the version gets the ONNX fast path), writes CSV files of N
rows drawn from the dataset with noise into the datasets storage, loads the same rows into a
PostgreSQL table of the scratch database, and scores them three ways:

- `manage.py score --uri rows-N.csv`: reads the file in chunks (MLSERVICE_BATCH_CHUNK_ROWS),
  predicts with the fast path, and stores every row with its inputs and probabilities in
  PostgreSQL (COPY);
- `manage.py score --source bench --query rows_N`: the same rows from a named query of a SQL data
  source (MLSERVICE_DATA_SOURCES), read through a server-side cursor, stored the same way;
- `mlflow models predict -i rows-N.csv -t csv --env-manager local`: reads the whole file, predicts
  with scikit-learn, writes the predictions to a JSON file, stores nothing.

For each tool it prints the median wall time, rows/s, the ratio of its rows/s to `mlflow models
predict`'s on the same rows, the peak resident memory of the process (and the children it waited
for, from wait4), so the sizes show whether memory follows the row count, and the CPU seconds of
the PostgreSQL backends serving the run (read from /proc while it runs: the COPY's parsing and
index updates, and the SQL source's reads). `job s` is the scoring's own time (the result's
``seconds``), without the process's start; `best` the fastest run's, the one least disturbed by
other work on a shared machine. The prediction table is emptied before each run.

``--baseline /path/to/checkout`` also runs that checkout's `manage.py score` (with its own venv)
on the same files, queries and model, storing into a database of its own migrated by its own code
(`..._base`: its prediction table may differ), so a change and what it replaces are measured in
one invocation; ``--rounds`` repeats every run, alternating their order, and prints medians.

    .venv/bin/python bench/batch.py [--rows 100000,1000000] [--trees 100] [--chunk-rows 50000]
        [--rounds 1] [--baseline /work/main] [--tools score-csv,score-sql,mlflow]

Needs PostgreSQL on 127.0.0.1:5432 (BENCH_DATABASE_URL to change); uses a scratch database
`mlservice_bench_batch` (dropped and created again), a temporary MLflow store and var/ directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MODEL = "bench-batch"
SOURCE = "bench"
TOOLS = ("score-csv", "score-sql", "mlflow")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One measured run: wall seconds, the job's own seconds (score only), peak RSS and PostgreSQL CPU."""

    seconds: float
    peak_mib: float
    job_seconds: float | None = None
    postgres_cpu_s: float | None = None


@dataclass
class Tool:
    """A way of scoring the rows: its label and the command for a file of ``rows`` rows."""

    label: str
    command: list[str]
    cwd: Path
    database: str = ""  # the URL its rows go to (score only)
    runs: list[Run] = field(default_factory=list)


def database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mlservice_bench_batch")


def environment(scratch: Path, chunk_rows: int) -> dict[str, str]:
    url = database_url()
    _recreate_database(url)
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DJANGO_SETTINGS_MODULE": "mlservice.settings",
        "DATABASE_URL": url,
        "MLSERVICE_VAR_DIR": str(scratch),
        "MLFLOW_TRACKING_URI": f"sqlite:///{scratch}/mlflow.db",
        "MLSERVICE_BATCH_CHUNK_ROWS": str(chunk_rows),
        "MLSERVICE_DATA_SOURCES": str(scratch / "sources.json"),
        "MLSERVICE_DRIFT_MONITOR_ENABLED": "false",
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "DO_NOT_TRACK": "1",
        "NML_DISABLE_USAGE_LOGGING": "1",
    }


def _admin_url(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/postgres"


def _recreate_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(_admin_url(url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def prepare(env: dict[str, str], trees: int) -> None:
    manage = [str(BIN / "python"), "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    spec = {"model_name": MODEL, "data": {"builtin": "breast_cancer"}, "params": {"n_estimators": trees}}
    spec_file = Path(env["MLSERVICE_VAR_DIR"]) / "spec.json"
    spec_file.write_text(json.dumps(spec))
    subprocess.run([*manage, "train", "--spec", str(spec_file)], cwd=ROOT, env=env, check=True, capture_output=True)


def feature_names() -> list[str]:
    from sklearn.datasets import load_breast_cancer

    return [str(name) for name in load_breast_cancer().feature_names]


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


def load_table(csv_path: Path, table: str) -> None:
    """Load the CSV's rows into ``table`` (an id in file order, one double precision column per feature)."""
    import psycopg

    columns = ", ".join(f'"{name}"' for name in feature_names())
    definitions = ", ".join(f'"{name}" double precision' for name in feature_names())
    with psycopg.connect(database_url()) as connection:
        connection.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, {definitions})")
        command = f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, HEADER)"
        with connection.cursor().copy(command) as copy, csv_path.open("rb") as handle:
            while block := handle.read(1 << 20):
                copy.write(block)
    with psycopg.connect(database_url(), autocommit=True) as connection:
        connection.execute(f"VACUUM ANALYZE {table}")


def write_sources(path: Path, sizes: list[int]) -> None:
    """Name one query per table: its features in file order (the id stays in the database)."""
    url = database_url().replace("postgres://", "postgresql://", 1)
    columns = ", ".join(f'"{name}"' for name in feature_names())
    queries = {f"rows_{rows}": f"SELECT {columns} FROM bench_rows_{rows} ORDER BY id" for rows in sizes}  # noqa: S608
    path.write_text(json.dumps({"sources": {SOURCE: {"url": url, "queries": queries}}}))


def baseline_database_url() -> str:
    return f"{database_url()}_base"


def prepare_baseline(env: dict[str, str], baseline: Path) -> None:
    """Give the baseline checkout a database of its own, migrated by its own code (its schema may differ)."""
    _recreate_database(baseline_database_url())
    python = baseline / ".venv" / "bin" / "python"
    subprocess.run([str(python), "manage.py", "migrate", "--no-input", "-v", "0"], cwd=baseline,
                   env={**env, "DATABASE_URL": baseline_database_url()}, check=True)  # fmt: skip


def empty_predictions(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("TRUNCATE predictions_prediction")
        connection.execute("CHECKPOINT")


class BackendCpu:
    """Sum the CPU seconds of the backends of the scratch databases while a run lasts (polled from /proc)."""

    def __init__(self, databases: list[str]) -> None:
        self._databases = [url.rsplit("/", 1)[1] for url in databases]
        self._seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.readable = True

    def __enter__(self) -> BackendCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float | None:
        return sum(self._seen.values()) if self.readable else None

    def _poll(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                self._poll_connected()
            except psycopg.OperationalError:  # the server restarted (another user's test): poll again
                self._stop.wait(1.0)

    def _poll_connected(self) -> None:
        import psycopg

        with psycopg.connect(_admin_url(database_url()), autocommit=True) as connection:
            while not self._stop.is_set():
                pids = connection.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s) AND backend_type = 'client backend'",
                    [self._databases],
                ).fetchall()
                for (pid,) in pids:
                    cpu = _process_cpu_s(pid)
                    if cpu is None:
                        continue
                    self._seen[pid] = max(cpu, self._seen.get(pid, 0.0))
                self._stop.wait(0.2)


def _process_cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def measured(tool: Tool, env: dict[str, str], log: Path) -> Run:
    """Run ``tool``; return its wall seconds, peak RSS (MiB, with the children it waited for) and more."""
    began = time.monotonic()
    # The rows' database, and the scratch one where the SQL source's table is.
    databases = [tool.database or database_url(), database_url()]
    env = {**env, "DATABASE_URL": tool.database} if tool.database else env
    with BackendCpu(databases) as backends, log.open("w") as output:
        process = subprocess.Popen(tool.command, cwd=tool.cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - began
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{tool.label} failed; see {log}:\n{log.read_text()[-2000:]}")
    run = Run(seconds=seconds, peak_mib=usage.ru_maxrss / 1024, postgres_cpu_s=backends.seconds)
    if tool.label.startswith("score"):
        result = json.loads(log.read_text().strip().splitlines()[-1])
        run.job_seconds = float(result["seconds"])
    return run


def tools_for(rows: int, scratch: Path, wanted: list[str], baseline: Path | None) -> list[Tool]:
    name = f"rows-{rows}.csv"
    checkouts = [("", ROOT, BIN / "python", database_url())]
    if baseline is not None:
        checkouts.append((" [base]", baseline, baseline / ".venv" / "bin" / "python", baseline_database_url()))
    tools = []
    for suffix, checkout, python, database in checkouts:
        score = [str(python), "manage.py", "score", "--model", MODEL]
        if "score-csv" in wanted:
            tools.append(Tool(f"score csv{suffix}", [*score, "--uri", name], checkout, database))
        if "score-sql" in wanted:
            query = ["--source", SOURCE, "--query", f"rows_{rows}"]
            tools.append(Tool(f"score sql{suffix}", [*score, *query], checkout, database))
    if "mlflow" in wanted:
        tools.append(Tool("mlflow models predict", [
            str(BIN / "mlflow"), "models", "predict", "-m", f"models:/{MODEL}/1",
            "-i", str(scratch / "datasets" / name), "-t", "csv", "-o", str(scratch / f"mlflow-{rows}.json"),
            "--env-manager", "local",
        ], ROOT))  # fmt: skip
    return tools


def report(rows: int, tools: list[Tool]) -> None:
    reference = next((tool for tool in tools if tool.label.startswith("mlflow")), None)
    reference_rate = rows / statistics.median(run.seconds for run in reference.runs) if reference else None
    for tool in tools:
        seconds = statistics.median(run.seconds for run in tool.runs)
        rate = rows / seconds
        ratio = f"{rate / reference_rate:>6.2f}" if reference_rate else f"{'-':>6}"
        jobs = [run.job_seconds for run in tool.runs if run.job_seconds is not None]
        job = f"{statistics.median(jobs):>7.1f}" if jobs else f"{'-':>7}"
        best = f"{min(jobs):>7.1f}" if jobs else f"{'-':>7}"
        cpu = [run.postgres_cpu_s for run in tool.runs if run.postgres_cpu_s is not None]
        pg = f"{statistics.median(cpu):>7.1f}" if cpu and tool.label.startswith("score") else f"{'-':>7}"
        peak = max(run.peak_mib for run in tool.runs)
        line = f"{rows:>10,}  {tool.label:<24} {seconds:>8.1f} {job} {best} {rate:>9,.0f} {ratio} {peak:>9,.0f} {pg}"
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="100000,1000000", help="Comma-separated file sizes in rows.")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=1, help="Runs of each tool (alternating order); medians.")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"Comma-separated, of {', '.join(TOOLS)}.")
    parser.add_argument("--baseline", type=Path, help="Another checkout whose manage.py score runs beside this one.")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch directory.")
    args = parser.parse_args()
    sizes = [int(size) for size in args.rows.split(",")]
    wanted = [tool for tool in args.tools.split(",") if tool]

    scratch = Path(tempfile.mkdtemp(prefix="mlservice-bench-batch-"))
    try:
        env = environment(scratch, args.chunk_rows)
        write_sources(scratch / "sources.json", sizes)
        prepare(env, args.trees)
        if args.baseline is not None:
            prepare_baseline(env, args.baseline)
        print(f"model: {args.trees}-tree forest on breast_cancer (30 columns); chunks of {args.chunk_rows} rows")
        print(f"{'rows':>10}  {'tool':<24} {'seconds':>8} {'job s':>7} {'best':>7} {'rows/s':>9} {'ratio':>6} "
              f"{'peak MiB':>9} {'pg cpu':>7}")  # fmt: skip
        for rows in sizes:
            csv_path = scratch / "datasets" / f"rows-{rows}.csv"
            write_rows(csv_path, rows)
            if "score-sql" in wanted:
                load_table(csv_path, f"bench_rows_{rows}")
            tools = tools_for(rows, scratch, wanted, args.baseline)
            for round_ in range(args.rounds):
                for tool in tools if round_ % 2 == 0 else tools[::-1]:
                    if tool.database:
                        empty_predictions(tool.database)
                    log = scratch / f"{tool.label.replace(' ', '_')}-{rows}-{round_}.log"
                    tool.runs.append(measured(tool, env, log))
            report(rows, tools)
        print("seconds and rows/s: wall time, including each process's start (imports, loading the model: ~10-20 s);")
        print("job s: the scoring alone (median; best: the fastest run, the least disturbed by other work);")
        print("ratio: rows/s over mlflow models predict's (medians);")
        print("pg cpu: CPU seconds of the PostgreSQL backends serving the run (COPY, and the SQL source's reads).")
    finally:
        if args.keep:
            print(f"scratch kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
