"""POST /data-drift, drift events over HTTP, their report, the admin and the check_drift command."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from mlflow import MlflowClient

from drift.models import DriftEvent
from predictions.models import Prediction
from registry.models import Run
from tests.drift.data import synthetic_frame
from tests.models_api.test_train_api import assert_failed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("runs_jobs")]

MODEL = "drift-synth"


def records(rows: int, seed: int, **shift) -> list[dict]:
    return synthetic_frame(rows, seed=seed, **shift).drop(columns=["target"]).to_dict(orient="records")


def drift(client, **body):
    return client.post("/data-drift", {"model_name": MODEL, **body}, format="json")


def test_check_against_the_versions_drift_sample_is_recorded_with_its_run(api_client, synthetic_model):
    response = drift(api_client, data={"dataframe_records": records(1000, 40, shift={"x2": 1.0})})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "success"
    assert body["drift_detected"] is True
    assert [f["column"] for f in body["features"] if f["alert"]] == ["x2"]
    assert body["baseline"] == {
        "kind": "drift_sample",
        "drift_sample_id": synthetic_model["drift_sample_id"],
        "rows": 6000,
    }
    assert body["rows"] == {"baseline": 6000, "subject": 1000}
    assert re.fullmatch(
        rf"drift_{MODEL}_{synthetic_model['model_version']}_\d{{8}}T\d{{6}}\.\d{{6}}Z", body["run_name"]
    )

    event = DriftEvent.objects.get(pk=body["event_id"])
    assert event.trigger == DriftEvent.Trigger.MANUAL
    assert event.model_version == synthetic_model["model_version"]
    run = MlflowClient().get_run(Run.objects.get(run_name=body["run_name"]).mlflow_run_id)
    assert run.info.run_name == body["run_name"]
    assert run.data.metrics["x2.alert"] == 1.0
    assert run.data.metrics["x0.alert"] == 0.0


def test_no_drift_is_recorded_too(api_client, synthetic_model):
    body = drift(api_client, data={"dataframe_records": records(1000, 41)}).json()

    assert body["drift_detected"] is False
    assert DriftEvent.objects.filter(pk=body["event_id"], drift_detected=False).exists()


def test_given_baseline_replaces_the_drift_sample(api_client):
    baseline = {"dataframe_records": records(4000, 42)}
    body = api_client.post(
        "/data-drift", {"data": {"dataframe_records": records(400, 43)}, "baseline": baseline}, format="json"
    ).json()

    assert body["status"] == "success"
    assert body["baseline"]["kind"] == "dataset"
    assert body["baseline"]["drift_sample_id"] is None


def test_too_few_rows_is_insufficient_data_not_a_verdict(api_client, synthetic_model):
    body = drift(api_client, data={"dataframe_records": records(20, 44)}).json()

    assert body["status"] == "insufficient_data"
    assert body["features"] == []
    assert DriftEvent.objects.get(pk=body["event_id"]).status == DriftEvent.Status.INSUFFICIENT_DATA


def test_save_subject_keeps_the_data_and_links_it(api_client, synthetic_model):
    body = drift(api_client, data={"dataframe_records": records(200, 45)}, save_subject=True).json()

    event = DriftEvent.objects.get(pk=body["event_id"])
    assert event.subject_file.name.endswith(".parquet")
    assert event.subject_file.storage.exists(event.subject_file.name)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"methods": {"continuous": "chi2"}}, "methods"),
        ({"columns": ["x0", "nope"]}, "data"),
        ({"thresholds": {"jensen_shannon": "high"}}, "thresholds"),
        ({"thresholds": {"magic": 0.1}}, "thresholds"),
        ({"model_name": "no-such-model"}, None),
    ],
)
def test_bad_drift_requests_name_the_field(api_client, synthetic_model, overrides, field):
    response = drift(api_client, data={"dataframe_records": records(200, 46)}, **overrides)

    body = assert_failed(response, 404 if field is None else 400)
    if field:
        assert field in body["error"]["details"] or body["error"]["message"].startswith(field)


def test_baseline_or_model_is_required(api_client):
    response = api_client.post("/data-drift", {"data": {"dataframe_records": records(200, 47)}}, format="json")

    assert "model_name" in assert_failed(response, 400)["error"]["details"]


def test_events_list_filters_and_report(api_client, synthetic_model):
    drifted = drift(api_client, data={"dataframe_records": records(1000, 48, colours=[0.1, 0.1, 0.8])}).json()
    calm = drift(api_client, data={"dataframe_records": records(1000, 49)}).json()

    listed = api_client.get("/drift-events/", {"model_name": MODEL, "drift_detected": "true"}).json()["results"]
    ids = [event["event_id"] for event in listed]
    assert drifted["event_id"] in ids
    assert calm["event_id"] not in ids
    assert api_client.get(f"/drift-events/{calm['event_id']}").json()["drift_detected"] is False

    report = api_client.get(f"/drift-events/{drifted['event_id']}/report")
    page = report.content.decode()
    assert report.status_code == 200
    assert report["Content-Type"].startswith("text/html")
    assert "<svg" in page
    assert "ALERT" in page
    assert not re.search(r"(src|href)=\"https?://", page)


def test_admin_lists_events_and_shows_the_feature_table_and_report(api_client, synthetic_model):
    event_id = drift(api_client, data={"dataframe_records": records(1000, 50, shift={"x1": 1.0})}).json()["event_id"]
    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser(username="ops", password="pw-ops-12345"))

    changelist = browser.get(
        reverse("admin:drift_driftevent_changelist"), {"drift_detected__exact": "1", "trigger": "manual"}
    )
    detail = browser.get(reverse("admin:drift_driftevent_change", args=[event_id])).content.decode()
    report = browser.get(reverse("admin:drift_driftevent_report", args=[event_id]))

    assert changelist.status_code == 200
    assert "<td>x1</td>" in detail
    assert re.search(r"<td>x1</td>(<td>[^<]*</td>){6}<td>ALERT</td>", detail)
    assert reverse("admin:drift_driftevent_report", args=[event_id]) in detail
    assert report.status_code == 200
    assert "<svg" in report.content.decode()


def store_inputs(model_version: str, rows: list[dict]) -> None:
    import uuid

    request_id = uuid.uuid4()
    Prediction.objects.bulk_create(
        Prediction(model_name=MODEL, model_version=model_version, request_id=request_id, row_index=index,
                   inputs=row, prediction=0)
        for index, row in enumerate(rows)
    )  # fmt: skip


def test_check_drift_command_summarises_and_fails_on_drift(synthetic_model):
    version = synthetic_model["model_version"]
    store_inputs(version, records(500, 51, shift={"x4": 1.5}))
    out = StringIO()

    with pytest.raises(CommandError, match="Drift detected"):
        call_command("check_drift", "--model", MODEL, "--window", "500", "--fail-on-drift", stdout=out)

    summary = out.getvalue()
    assert re.search(r"x4\s+ks_test\s+\S+ / p=\S+\s+ALERT", summary)
    assert "DRIFT" in summary
    assert DriftEvent.objects.filter(
        trigger=DriftEvent.Trigger.COMMAND, model_version=version, drift_detected=True
    ).exists()


def test_check_drift_command_passes_without_drift(synthetic_model):
    store_inputs(synthetic_model["model_version"], records(500, 52))
    out = StringIO()

    call_command("check_drift", "--model", MODEL, "--alias", "production", "--fail-on-drift", stdout=out)

    assert "no drift" in out.getvalue()


def test_small_baseline_gets_a_tested_verdict_with_the_chosen_correction(api_client):
    subject = synthetic_frame(200, seed=53, shift={"x2": 1.0}).drop(columns=["target"])
    subject.loc[subject.index[:40], "colour"] = "purple"
    body = {
        "data": {"dataframe_records": subject.to_dict(orient="records")},
        "baseline": {"dataframe_records": records(300, 54)},
        "alpha": 0.01,
        "correction": "bonferroni",
    }

    response = api_client.post("/data-drift", body, format="json")

    assert response.status_code == 200, response.content
    result = response.json()
    assert result["status"] == "success"
    assert (result["alpha"], result["correction"]) == (0.01, "bonferroni")
    assert "Bonferroni" in result["rule"]
    x2 = next(feature for feature in result["features"] if feature["column"] == "x2")
    assert x2["method"] == "ks_test"
    assert x2["alert"] is True
    assert x2["adjusted_p_value"] < 0.01
    assert x2["threshold"] is None
    colour = next(quality for quality in result["data_quality"] if quality["column"] == "colour")
    assert colour["unseen_categories"] == ["purple"]
    assert colour["alert"] is True
    assert result["data_quality_alert"] is True
    report = api_client.get(result["report_url"]).content.decode()
    assert "purple" in report
    assert "Bonferroni" in report


@pytest.mark.parametrize(("field", "value"), [("alpha", 0), ("alpha", "often"), ("correction", "holm")])
def test_bad_alpha_or_correction_is_a_400_naming_it(api_client, field, value):
    body = {"data": {"dataframe_records": records(50, 55)}, "baseline": {"dataframe_records": records(50, 56)}}

    response = api_client.post("/data-drift", {**body, field: value}, format="json")

    assert field in assert_failed(response, 400)["error"]["details"]


def test_text_in_a_numeric_column_is_a_400_naming_it(api_client):
    subject = records(60, 57)
    subject[3]["x0"] = "oops"

    response = api_client.post(
        "/data-drift",
        {"data": {"dataframe_records": subject}, "baseline": {"dataframe_records": records(60, 58)}},
        format="json",
    )

    body = assert_failed(response, 400)
    assert "x0" in body["error"]["message"]
    assert "data" in body["error"]["details"]
