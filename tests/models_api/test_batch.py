"""Batch scoring on a real Celery worker: a 100,000-row named query stored once, listed and exported."""

from __future__ import annotations

import io
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
import yaml
from django.core.management import call_command
from django.db.models import Count, Max, Min

from core.exceptions import InvalidInput
from models_api.batch import batch_score
from models_api.models import Job
from predictions.models import Prediction
from tests.models_api.test_train_api import assert_failed
from tests.workers import celery_worker_start, process_stop

pytestmark = pytest.mark.django_db(transaction=True)

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
ROWS = 100_000
CHUNK_ROWS = 30_000


def scoring_frame(rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"id": np.arange(1, rows + 1)})
    for column, (mean, sd) in zip(FEATURES, [(5.8, 0.8), (3.0, 0.4), (3.8, 1.7), (1.2, 0.8)], strict=True):
        frame[column] = np.round(rng.normal(mean, sd, size=rows), 2)
    return frame


@pytest.fixture(scope="module")
def warehouse() -> Iterator[str]:
    """A database of its own on the machine's PostgreSQL with 100,000 flowers to score; dropped afterwards."""
    name = f"warehouse_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}") as conn:
            columns = ", ".join(f'"{column}" double precision' for column in FEATURES)
            conn.execute(f"CREATE TABLE flowers (id integer PRIMARY KEY, {columns})")
            quoted = ", ".join(f'"{column}"' for column in ["id", *FEATURES])
            with conn.cursor().copy(f"COPY flowers ({quoted}) FROM STDIN") as copy:
                for row in scoring_frame().itertuples(index=False):
                    copy.write_row(tuple(row))
        yield name
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sources(warehouse: str, tmp_path: Path, settings: Any) -> Path:
    config = {
        "sources": {
            "warehouse": {
                "url": f"postgresql://postgres@127.0.0.1:5432/{warehouse}",
                # The id comes along: batch scoring keeps the model's inputs only.
                "queries": {"flowers_upto": "SELECT * FROM flowers WHERE id <= :hi ORDER BY id"},
            }
        }
    }
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(config))
    settings.MLSERVICE_DATA_SOURCES = str(path)
    return path


def flowers(hi: int = ROWS) -> dict[str, Any]:
    return {"query": {"source": "warehouse", "name": "flowers_upto", "params": {"hi": hi}}}


@pytest.fixture
def worker(sources: Path, tmp_path: Path) -> Iterator[subprocess.Popen]:
    """A real `celery worker` (prefork, 1 process) on the session's queue, with the data sources file."""
    process = celery_worker_start(
        tmp_path / "worker.log", concurrency=1, MLSERVICE_DATA_SOURCES=str(sources),
        MLSERVICE_BATCH_CHUNK_ROWS=str(CHUNK_ROWS),
        # A 100,000-row job outlasts the other tests' 30 s: no redelivery while it runs.
        MLSERVICE_JOB_VISIBILITY_TIMEOUT_S="3600", MLSERVICE_JOB_HEARTBEAT_S="5", MLSERVICE_JOB_STALE_S="120",
    )  # fmt: skip
    yield process
    process_stop(process)


def wait_for(job_id: str, *, timeout: float = 300) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} not finished: {Job.objects.get(pk=job_id).status}")


def submit(client: Any, **body: Any) -> dict[str, Any]:
    response = client.post("/inference/batch", body, format="json")
    assert response.status_code == 202, response.content
    job = response.json()
    assert response["Location"] == f"/jobs/{job['job_id']}"
    assert job["status"] == "queued"
    assert job["kind"] == "score"
    return job


def export(client: Any, request_id: str, export_format: str) -> pd.DataFrame:
    response = client.get("/predictions/export", {"request_id": request_id, "format": export_format})
    assert response.status_code == 200, response.content
    content = b"".join(response.streaming_content)
    if export_format == "csv":
        assert response["Content-Type"] == "text/csv"
        return pd.read_csv(io.BytesIO(content))
    return pd.read_parquet(io.BytesIO(content))


def test_a_100000_row_query_is_scored_stored_once_listed_and_exported(api_client, iris_model, worker):
    job = submit(api_client, model_name=iris_model["registered_model_name"], data=flowers())

    finished = wait_for(job["job_id"])

    assert finished.status == Job.Status.SUCCEEDED, finished.error
    body = api_client.get(f"/jobs/{job['job_id']}").json()
    result = body["result"]
    assert result["status"] == "success"
    assert (result["model_name"], result["model_version"]) == ("iris-served", iris_model["model_version"])
    assert result["rows"] == ROWS
    assert result["seconds"] > 0
    assert body["rows_done"] == ROWS
    stored = Prediction.objects.filter(request_id=result["request_id"])
    counts = stored.aggregate(rows=Count("id"), indexes=Count("row_index", distinct=True), first=Min("row_index"),
                              last=Max("row_index"))  # fmt: skip
    assert counts == {"rows": ROWS, "indexes": ROWS, "first": 0, "last": ROWS - 1}
    listed = api_client.get("/predictions/", {"request_id": result["request_id"]}).json()["results"]
    assert len(listed) == 100
    assert {row["request_id"] for row in listed} == {result["request_id"]}
    assert set(listed[0]["inputs"]) == set(FEATURES)

    source = scoring_frame()
    for export_format in ("csv", "parquet"):
        exported = export(api_client, result["request_id"], export_format)
        assert len(exported) == ROWS
        columns = list(exported.columns)
        assert columns[:2] == ["prediction_id", "row_index"]
        assert sorted(columns[2:6]) == sorted(FEATURES)
        assert columns[6:] == ["prediction", "probability_0", "probability_1", "probability_2"]
        assert exported["row_index"].tolist() == list(range(ROWS))
        assert np.allclose(exported[FEATURES].to_numpy(), source[FEATURES].to_numpy())
        assert set(exported["prediction"]) <= {0, 1, 2}
        assert np.allclose(exported[["probability_0", "probability_1", "probability_2"]].sum(axis=1), 1.0)


def test_a_job_that_runs_again_stores_only_the_rows_it_had_not_stored(iris_model, sources, settings):
    settings.MLSERVICE_BATCH_CHUNK_ROWS = 1_000
    request_id = uuid.uuid4()
    name, version = iris_model["registered_model_name"], iris_model["model_version"]
    # The first attempt died after committing 2,500 rows (two chunks and a half-chunk: any cut point).
    batch_score(model_name=name, model_version=version, data=flowers(2_500), request_id=request_id)
    seen: list[int] = []

    result = batch_score(
        model_name=name, model_version=version, data=flowers(5_000), request_id=request_id, progress=seen.append
    )

    assert result.rows == 5_000
    stored = Prediction.objects.filter(request_id=request_id)
    assert stored.count() == 5_000
    assert sorted(stored.values_list("row_index", flat=True)) == list(range(5_000))
    assert seen[0] == 2_500
    assert seen[-1] == 5_000
    row = stored.get(row_index=4_321)
    expected = scoring_frame().iloc[4_321]
    assert row.inputs == {column: expected[column] for column in FEATURES}


def test_a_chunk_that_fails_stops_the_batch_after_the_chunks_before_it_are_committed(
    iris_model, datasets_dir, settings
):
    settings.MLSERVICE_BATCH_CHUNK_ROWS = 1_000
    datasets_dir.mkdir(parents=True, exist_ok=True)
    rows = scoring_frame(3_500).astype({"petal width (cm)": object})
    rows.loc[2_500, "petal width (cm)"] = "wide"  # in the third chunk: read and predicted while the second is stored
    rows.to_csv(datasets_dir / "third-chunk-bad.csv", index=False)
    request_id = uuid.uuid4()

    with pytest.raises(InvalidInput) as failed:
        batch_score(model_name="iris-served", model_version=iris_model["model_version"],
                    data={"uri": "third-chunk-bad.csv"}, request_id=request_id)  # fmt: skip

    assert "petal width (cm)" in failed.value.message
    stored = Prediction.objects.filter(request_id=request_id)
    assert sorted(stored.values_list("row_index", flat=True)) == list(range(2_000))


def test_manage_py_score_scores_a_file_of_the_datasets_storage(iris_model, datasets_dir):
    datasets_dir.mkdir(parents=True, exist_ok=True)
    scoring_frame(1_234).to_csv(datasets_dir / "to-score.csv", index=False)
    out, err = StringIO(), StringIO()

    call_command("score", "--model", iris_model["registered_model_name"], "--uri", "to-score.csv", stdout=out,
                 stderr=err)  # fmt: skip

    result = json.loads(out.getvalue().splitlines()[-1])
    assert result["status"] == "success"
    assert result["rows"] == 1_234
    assert Prediction.objects.filter(request_id=result["request_id"]).count() == 1_234


def test_manage_py_score_runs_a_named_query_with_parameters(iris_model, sources):
    out = StringIO()

    call_command("score", "--model", "iris-served", "--source", "warehouse", "--query", "flowers_upto",
                 "--param", "hi=300", stdout=out, stderr=StringIO())  # fmt: skip

    assert json.loads(out.getvalue().splitlines()[-1])["rows"] == 300


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"model_name": "no-such-model", "data": {"builtin": "iris"}}, 404, None),
        ({"model_name": "iris-served", "data": {"query": {"source": "nope", "name": "x"}}}, 400, "data.query.source"),
        ({"model_name": "iris-served", "data": {"query": {"source": "warehouse", "name": "flowers_upto"}}}, 400,
         "data.query.params.hi"),
        ({"model_name": "iris-served", "data": {"uri": "../etc/passwd.csv"}}, 400, "data.uri"),
        ({"model_name": "iris-served", "data": {"uri": "no-such-file.parquet"}}, 400, "data.uri"),
        ({"model_name": "iris-served", "data": {"sql": "SELECT 1"}}, 400, "data.sql"),
        ({"model_name": "iris-served"}, 400, "data"),
    ],
)  # fmt: skip
def test_a_bad_batch_request_is_refused_before_anything_is_queued(api_client, iris_model, sources, body, status, field):
    response = api_client.post("/inference/batch", body, format="json")

    error = assert_failed(response, status)
    if field:
        assert field in error["error"]["details"]
    assert not Job.objects.filter(kind=Job.Kind.SCORE).exists()


def test_a_batch_whose_rows_lack_a_model_column_fails_naming_it(api_client, iris_model, worker):
    rows = scoring_frame(50).drop(columns=["petal width (cm)"])
    job = submit(api_client, model_name="iris-served", data={"dataframe_records": rows.to_dict(orient="records")})

    finished = wait_for(job["job_id"])

    assert finished.status == Job.Status.FAILED
    assert finished.error["error"]["code"] == "invalid_input"
    assert "petal width (cm)" in finished.error["error"]["message"]


def test_an_inference_token_may_not_score_in_batch_but_may_export(iris_model, sources):
    from tests.security.test_roles import client_in

    response = client_in("inference").post(
        "/inference/batch", {"model_name": "iris-served", "data": flowers(10)}, format="json"
    )
    exported = client_in("inference").get("/predictions/export", {"request_id": str(uuid.uuid4())})

    assert_failed(response, 403)
    assert exported.status_code == 200
    assert b"".join(exported.streaming_content).decode().splitlines() == ["prediction_id,row_index,prediction"]


def test_export_needs_a_request_id_and_a_known_format(api_client):
    assert "request_id" in assert_failed(api_client.get("/predictions/export"), 400)["error"]["details"]
    refused = api_client.get("/predictions/export", {"request_id": str(uuid.uuid4()), "format": "xlsx"})
    assert "format" in assert_failed(refused, 400)["error"]["details"]
