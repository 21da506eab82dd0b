"""The alert webhook: a real HTTP server on loopback, a real Celery worker posting to it, real checks and retrains."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from core.notifications import SIGNATURE_HEADER
from models_api.models import Job
from tests.models_api.test_jobs import wait_for
from tests.models_api.test_retrain_command import concept
from tests.models_api.test_retrain_policies import check, production, set_policy, shifted, start_worker, stop_worker

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "webhook-test-secret"


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers 500 to its first POST and 200 to the rest."""

    def __init__(self) -> None:
        self.deliveries: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    status = 500 if not receiver.deliveries else 200
                    receiver.deliveries.append({"status": status, "raw": raw, "body": json.loads(raw),
                                                "headers": dict(self.headers)})  # fmt: skip
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/mlservice"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def delivered(self, event: str) -> list[dict[str, Any]]:
        with self.lock:
            return [d["body"] for d in self.deliveries if d["status"] == 200 and d["body"]["event"] == event]

    def wait_for(self, *events: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.delivered(event) for event in events):
                return
            time.sleep(0.5)
        raise AssertionError(f"not delivered: {[e for e in events if not self.delivered(e)]}; {self.deliveries}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    receiver = Receiver()
    settings.MLSERVICE_ALERT_WEBHOOK_URL = receiver.url
    yield receiver
    receiver.close()


@pytest.fixture
def webhook_worker(receiver: Receiver, tmp_path: Any) -> Iterator[Any]:
    process = start_worker(tmp_path / "worker.log", MLSERVICE_ALERT_WEBHOOK_URL=receiver.url,
                           MLSERVICE_ALERT_WEBHOOK_SECRET=SECRET)  # fmt: skip
    yield process
    stop_worker(process)


def boundary(rows: int = 300, *, seed: int = 8) -> dict[str, Any]:
    """Rows along the model's decision boundary (x0 + x1 near 0): no column drifts, but the model is unsure."""
    frame = concept(rows, seed=seed, rule="sum")
    frame["x1"] = -frame["x0"] + np.random.default_rng(9).normal(0, 0.2, rows)
    return {"dataframe_split": frame.to_dict(orient="split", index=False)}


def test_drift_an_estimated_drop_and_the_retrain_it_triggers_reach_the_webhook(
    api_client, receiver, webhook_worker, datasets_dir
):
    version = production("notify-model", datasets_dir)
    set_policy(api_client, "notify-model", retrain_on_drift=False,
               retrain_on_estimated_drop={"metric": "accuracy", "min_drop": 0.05})  # fmt: skip

    drifted = check(api_client, "notify-model", data=shifted())
    dropped = check(api_client, "notify-model", data=boundary())

    # The drift alone doesn't meet this policy; the estimated drop does.
    assert drifted["drift_detected"] is True
    assert drifted["retrain_job_id"] is None
    assert dropped["estimated_performance"]["alert"] is True
    assert dropped["retrain_job_id"] is not None
    (job,) = wait_for([dropped["retrain_job_id"]])
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert "estimated accuracy" in job.result["trigger"]
    receiver.wait_for("drift_detected", "estimated_performance_alert", "retrain_finished")

    (drift,) = receiver.delivered("drift_detected")
    assert drift["event_id"] == drifted["event_id"]
    assert (drift["model_name"], drift["model_version"]) == ("notify-model", version)
    assert drift["drifted_columns"] == ["x0"]
    assert drift["retrain_job_id"] is None
    (estimate,) = receiver.delivered("estimated_performance_alert")
    assert estimate["event_id"] == dropped["event_id"]
    assert estimate["metric"] == "accuracy"
    assert estimate["value"] == dropped["estimated_performance"]["value"]
    assert estimate["retrain_job_id"] == dropped["retrain_job_id"]
    (retrain,) = receiver.delivered("retrain_finished")
    assert retrain["job_id"] == dropped["retrain_job_id"]
    assert retrain["job_status"] == "succeeded"
    assert retrain["decision"] == job.result["decision"]
    assert retrain["reason"] == job.result["reason"]
    assert retrain["drift_event_id"] == dropped["event_id"]

    # The receiver's first answer was a 500: that body came again, and succeeded.
    first = receiver.deliveries[0]
    assert first["status"] == 500
    assert [d["status"] for d in receiver.deliveries if d["raw"] == first["raw"]] == [500, 200]
    # Every POST is signed with the shared secret.
    for delivery in receiver.deliveries:
        expected = "sha256=" + hmac.new(SECRET.encode(), delivery["raw"], hashlib.sha256).hexdigest()
        assert delivery["headers"][SIGNATURE_HEADER] == expected


def test_a_failed_retrain_is_notified_with_its_error(api_client, receiver, webhook_worker, datasets_dir):
    from tests.models_api.test_retrain_command import put

    production("notify-fail", datasets_dir)
    weekly = put(datasets_dir, "notify-fail-weekly.csv", concept(500, seed=5, rule="diff"))
    set_policy(api_client, "notify-fail", data={"uri": weekly})
    (datasets_dir / weekly).unlink()

    checked = check(api_client, "notify-fail", data=shifted())
    (job,) = wait_for([checked["retrain_job_id"]])
    receiver.wait_for("retrain_finished")

    assert job.status == Job.Status.FAILED
    (retrain,) = receiver.delivered("retrain_finished")
    assert retrain["job_status"] == "failed"
    assert retrain["decision"] == "failed"
    assert "notify-fail-weekly.csv" in retrain["reason"]
