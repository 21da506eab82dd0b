"""Evidently for the drift benchmarks: its own venv, and a long-lived worker that runs DataDriftPreset.

Evidently 0.7.23 needs pandas < 3, so it cannot share the service's venv: ensure_evidently() creates
bench/.venv-evidently with uv on first use (from PyPI). bench/drift.py times one report at a time;
bench/drift_quality.py sends thousands of frame pairs to one EvidentlyWorker, which runs this file
as a script in that venv:

    bench/.venv-evidently/bin/python bench/evidently_runner.py

The worker reads one JSON request per line on stdin ({"reference": path, "current": path, "full":
bool}, two Parquet files) and answers one JSON line per request on stdout, from a Report with
DataDriftPreset() at its defaults (include_tests=True):

- "dataset_drift": the status of the preset's own dataset test, DriftedColumnsCount's "share of
  drifted columns < drift_share (0.5)": FAIL means Evidently calls the dataset drifted (the same
  rule as legacy DatasetDriftMetric's dataset_drift = share >= drift_share);
- "share": that share; "drifted": the columns whose ValueDrift test failed (drift_detected);
- "methods": the method Evidently chose per column; "seconds": Report.run's wall time.

Rendering: Report.run also builds the report's plotly widgets, ~85% of its time on 30 columns and
nothing the verdict depends on. The worker stubs the three renderers out (ValueDrift's widget,
legacy metrics' render_html, DataDriftPreset.render) for its verdicts; with "full": true it also
runs the untouched Report on the same pair and returns its time ("full_seconds") and whether its
verdicts match ("full_agrees").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVIDENTLY_VENV = ROOT / "bench" / ".venv-evidently"
EVIDENTLY_VERSION = "0.7.23"


def ensure_evidently() -> Path:
    """Return the python of bench/.venv-evidently, creating the venv (evidently, pandas < 3) on first use."""
    python = EVIDENTLY_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        uv = Path(sys.executable).with_name("uv")
        subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python),
                        f"evidently=={EVIDENTLY_VERSION}", "pandas<3", "pyarrow"], check=True)  # fmt: skip
    return python


class EvidentlyWorker:
    """A worker process in the Evidently venv; submit() pairs of Parquet files, result() in order."""

    def __init__(self) -> None:
        python = ensure_evidently()
        self._process = subprocess.Popen(
            [str(python), str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.pending = 0

    def submit(self, reference: Path, current: Path, *, full: bool = False) -> None:
        assert self._process.stdin is not None
        request = {"reference": str(reference), "current": str(current), "full": full}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        self.pending += 1

    def result(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Evidently worker stopped (exit code {self._process.poll()})")
        self.pending -= 1
        answer = json.loads(line)
        if answer.get("error"):
            raise RuntimeError(f"Evidently failed: {answer['error']}")
        return answer

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=60)


# --- The worker (runs in bench/.venv-evidently) ---------------------------------------------------

RENDER = {"on": True}


def _stub_rendering() -> None:
    """Make Report.run skip its plotly widgets while RENDER["on"] is False; statistics untouched."""
    import evidently.core.report as core_report
    from evidently.metrics.column_statistics import ValueDriftCalculation
    from evidently.presets.drift import DataDriftPreset

    find_renderer, value_render, preset_render = (
        core_report.find_metric_renderer,
        ValueDriftCalculation._render,
        DataDriftPreset.render,
    )

    class NoRender:
        @staticmethod
        def render_html(metric: Any) -> list:
            return []

    def find_metric_renderer(*args: Any, **kwargs: Any) -> Any:
        return find_renderer(*args, **kwargs) if RENDER["on"] else NoRender()

    def value_drift_render(self: Any, *args: Any, **kwargs: Any) -> list:
        return value_render(self, *args, **kwargs) if RENDER["on"] else []

    def data_drift_render(self: Any, *args: Any, **kwargs: Any) -> list:
        return preset_render(self, *args, **kwargs) if RENDER["on"] else []

    core_report.find_metric_renderer = find_metric_renderer
    ValueDriftCalculation._render = value_drift_render
    DataDriftPreset.render = data_drift_render


def _verdict(reference: Any, current: Any, *, render: bool) -> dict[str, Any]:
    import time

    from evidently import Report
    from evidently.core.metric_types import TestStatus
    from evidently.metrics import ValueDrift
    from evidently.metrics.column_statistics import DriftedColumnsCount
    from evidently.presets import DataDriftPreset

    RENDER["on"] = render
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()], include_tests=True).run(current_data=current, reference_data=reference)
    seconds = time.perf_counter() - started
    answer: dict[str, Any] = {"seconds": seconds, "drifted": [], "methods": {}, "dataset_drift": None, "share": None}
    for metric_id, result in snapshot.metric_results.items():
        calculation = snapshot.context.get_metric(metric_id)
        metric = calculation.metric
        failed = any(test.status == TestStatus.FAIL for test in result.tests)
        if isinstance(metric, DriftedColumnsCount):
            answer["dataset_drift"] = failed
            answer["share"] = float(result.share.value)
        elif isinstance(metric, ValueDrift):
            # The method "auto" chose, as the metric's config records it once resolved.
            answer["methods"][metric.column] = calculation.to_metric_config().params.get("method")
            if failed:
                answer["drifted"].append(metric.column)
    return answer


def serve() -> None:
    """Answer requests from stdin until it closes; everything else that prints goes to stderr."""
    import warnings

    import pandas as pd

    protocol, sys.stdout = sys.stdout, sys.stderr
    warnings.filterwarnings("ignore")
    _stub_rendering()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reference, current = pd.read_parquet(request["reference"]), pd.read_parquet(request["current"])
            answer = _verdict(reference, current, render=False)
            if request.get("full"):
                full = _verdict(reference, current, render=True)
                answer["full_seconds"] = full["seconds"]
                answer["full_agrees"] = (full["dataset_drift"], sorted(full["drifted"])) == (
                    answer["dataset_drift"],
                    sorted(answer["drifted"]),
                )
        except Exception as error:  # the client raises it with the message
            answer = {"error": f"{type(error).__name__}: {error}"}
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()


if __name__ == "__main__":
    serve()
