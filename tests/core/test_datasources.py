"""Named data sources on real PostgreSQL and SQLite databases: train, evaluate and check drift from them."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
import yaml
from django.core.exceptions import ImproperlyConfigured

from core.datasources import data_sources
from models_api.services import TrainingSpec, model_train
from registry.models import Run
from tests.models_api.test_train_api import assert_failed
from tests.utils import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("runs_jobs")]

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "s3cret-warehouse-pw"
QUERIES = {
    "loans_between": "SELECT x1, x2, grade, target FROM loans WHERE id BETWEEN :lo AND :hi ORDER BY id",
    "loans_of_grade": {
        "sql": "SELECT x1, x2, grade, target FROM loans WHERE grade = :grade",
        "description": "One grade",
    },
    "purge": "DELETE FROM loans WHERE id <= :n RETURNING x1, x2, grade, target",
}
PG_QUERIES = {
    **QUERIES,
    "purge_by_function": "SELECT x1, x2, grade, target FROM loans WHERE purge_loans(:n) = 0",
    "slow": "SELECT x1, x2, grade, target FROM loans, pg_sleep(:seconds) WHERE id <= 100",
}
ROWS = 600


def loans_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"id": np.arange(1, ROWS + 1), "x1": rng.normal(size=ROWS), "x2": rng.normal(size=ROWS)})
    frame["grade"] = rng.choice(["A", "B", "C"], size=ROWS)
    frame["target"] = (frame["x1"] + 0.5 * frame["x2"] + rng.normal(scale=0.3, size=ROWS) > 0).astype(int)
    return frame


@pytest.fixture(scope="module")
def pg_warehouse() -> Iterator[str]:
    """A database of its own on the machine's PostgreSQL, with the loans table; dropped afterwards."""
    name = f"warehouse_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}") as conn:
            conn.execute("CREATE TABLE loans (id integer PRIMARY KEY, x1 numeric, x2 double precision, "
                         "grade text, target integer)")  # fmt: skip
            with conn.cursor().copy("COPY loans (id, x1, x2, grade, target) FROM STDIN") as copy:
                for row in loans_frame().itertuples(index=False):
                    copy.write_row((int(row.id), float(row.x1), float(row.x2), row.grade, int(row.target)))
            # A write hidden in a function that a SELECT calls: only a read-only transaction stops it.
            conn.execute("CREATE FUNCTION purge_loans(n integer) RETURNS integer LANGUAGE plpgsql AS "
                         "$$ BEGIN DELETE FROM loans WHERE id <= n; RETURN 0; END $$")  # fmt: skip
        yield name
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def sqlite_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("warehouse") / "loans.db"
    with sqlite3.connect(path) as conn:
        loans_frame().to_sql("loans", conn, index=False)
    return path


@pytest.fixture
def sources(pg_warehouse: str, sqlite_warehouse: Path, tmp_path: Path, settings: Any, monkeypatch: Any) -> Path:
    """The sources file (YAML) with both warehouses, two stopped sources and a project's own source."""
    monkeypatch.setenv("WAREHOUSE_USER", "postgres")
    monkeypatch.setenv("WAREHOUSE_PASSWORD", PASSWORD)
    config = {
        "sources": {
            "pg": {
                "url": f"postgresql://${{WAREHOUSE_USER}}:${{WAREHOUSE_PASSWORD}}@127.0.0.1:5432/{pg_warehouse}",
                "description": "Loans on PostgreSQL",
                "queries": PG_QUERIES,
            },
            "lite": {"url": f"sqlite:///{sqlite_warehouse}", "queries": QUERIES},
            "pg_down": {"url": f"postgresql://postgres@127.0.0.1:{free_port()}/nothing", "queries": QUERIES},
            "lite_down": {"url": f"sqlite:///{tmp_path / 'missing.db'}", "queries": QUERIES},
            "synthetic": {"class": "tests.core.sources.SyntheticSource", "queries": {}},
            "synthetic_down": {"class": "tests.core.sources.SyntheticSource", "options": {"down": True}},
        }
    }
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(config))
    settings.MLSERVICE_DATA_SOURCES = str(path)
    return path


def query(source: str, name: str = "loans_between", **params: Any) -> dict[str, Any]:
    return {"query": {"source": source, "name": name, "params": params}}


def loans_count(source: str, pg_warehouse: str, sqlite_warehouse: Path) -> int:
    if source == "pg":
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{pg_warehouse}") as conn:
            return conn.execute("SELECT count(*) FROM loans").fetchone()[0]
    with sqlite3.connect(sqlite_warehouse) as conn:
        return conn.execute("SELECT count(*) FROM loans").fetchone()[0]


@pytest.mark.parametrize("source", ["pg", "lite"])
def test_train_on_one_id_range_and_evaluate_on_another(api_client, sources, source):
    trained = model_train(
        spec=TrainingSpec(model_name=f"loans-{source}", data=query(source, lo=1, hi=400), params={"n_estimators": 5})
    )

    response = api_client.post(
        "/evaluate", {"model_name": f"loans-{source}", "data": query(source, lo=401, hi=600)}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_version"] == trained.model_version
    assert body["rows"] == 200
    assert body["metrics"]["accuracy"] > 0.7
    # The recorded spec keeps the query (not its rows), so a retraining reads it again.
    run = Run.objects.get(run_name=trained.run_name)
    assert run.params["data"] == query(source, lo=1, hi=400)


@pytest.mark.parametrize("source", ["pg", "lite"])
def test_drift_check_of_one_range_against_another(api_client, sources, source):
    body = {"data": query(source, lo=301, hi=600), "baseline": query(source, lo=1, hi=300)}

    response = api_client.post("/data-drift", body, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["rows"] == {"baseline": 300, "subject": 300}


@pytest.mark.parametrize("source", ["pg", "lite"])
@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("loans_between", {"lo": "0; DROP TABLE loans; --", "hi": 600}),
        ("loans_between", {"lo": "0 OR 1=1", "hi": "0) OR (1=1"}),
        ("loans_of_grade", {"grade": "A' OR '1'='1"}),
        ("loans_of_grade", {"grade": "A'; DELETE FROM loans; --"}),
    ],
)
def test_an_injection_attempt_in_a_parameter_is_refused_and_changes_nothing(
    api_client, sources, pg_warehouse, sqlite_warehouse, source, name, params
):
    response = api_client.post("/data-drift", {"data": query(source, name, **params), "baseline": query(
        source, lo=1, hi=300)}, format="json")  # fmt: skip

    assert 400 <= response.status_code < 500, response.content
    assert response.json()["status"] == "failed"
    assert loans_count(source, pg_warehouse, sqlite_warehouse) == ROWS


def test_a_value_the_database_refuses_is_a_400_naming_the_parameters_of_that_field(api_client, sources):
    body = {"data": query("pg", lo=1, hi=300), "baseline": query("pg", lo="one", hi=300)}

    response = api_client.post("/data-drift", body, format="json")

    error = assert_failed(response, 400, "invalid_input")
    assert list(error["error"]["details"]) == ["baseline.query.params"]
    assert "refused" in error["error"]["message"]


def test_sql_in_the_query_name_is_an_unknown_query(api_client, sources, pg_warehouse, sqlite_warehouse):
    response = api_client.post(
        "/data-drift", {"data": query("pg", "loans_between; DROP TABLE loans", lo=1, hi=2)}, format="json"
    )

    body = assert_failed(response, 400)
    assert "data.query.name" in body["error"]["details"]
    assert loans_count("pg", pg_warehouse, sqlite_warehouse) == ROWS


@pytest.mark.parametrize(("source", "name"), [("pg", "purge"), ("pg", "purge_by_function"), ("lite", "purge")])
def test_a_write_in_a_configured_query_fails_on_the_read_only_connection(
    api_client, sources, pg_warehouse, sqlite_warehouse, source, name
):
    response = api_client.post("/data-drift", {"data": query(source, name, n=600), "baseline": query(
        source, lo=1, hi=300)}, format="json")  # fmt: skip

    assert response.status_code >= 400, response.content
    assert response.json()["status"] == "failed"
    assert loans_count(source, pg_warehouse, sqlite_warehouse) == ROWS


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"query": {"source": "nope", "name": "loans_between", "params": {"lo": 1, "hi": 2}}}, "data.query.source"),
        ({"query": {"source": "pg", "name": "nope", "params": {}}}, "data.query.name"),
        (
            {"query": {"source": "pg", "name": "loans_between", "params": {"lo": 1, "hi": 2, "x": 3}}},
            "data.query.params.x",
        ),
        ({"query": {"source": "pg", "name": "loans_between", "params": {"lo": 1}}}, "data.query.params.hi"),
        ({"query": {"source": "pg", "name": "loans_between", "params": {"lo": [1], "hi": 2}}}, "data.query.params.lo"),
        ({"query": {"source": "pg", "name": "loans_between", "sql": "SELECT 1"}}, "data.query.sql"),
        ({"query": {"source": "synthetic", "name": "rows", "params": {"n": 10}}}, "data.query.params.seed"),
    ],
)
def test_unknown_source_query_or_parameter_is_a_400_naming_it(api_client, sources, value, field):
    response = api_client.post("/data-drift", {"data": value, "baseline": query("lite", lo=1, hi=300)}, format="json")

    body = assert_failed(response, 400, "invalid_input")
    assert list(body["error"]["details"]) == [field]
    assert field in body["error"]["message"]


@pytest.mark.parametrize("source", ["pg_down", "lite_down", "synthetic_down"])
def test_a_source_that_does_not_answer_is_a_503_naming_it(api_client, sources, source):
    params = {"n": 10, "seed": 1} if source.startswith("synthetic") else {"lo": 1, "hi": 2}
    name = "rows" if source.startswith("synthetic") else "loans_between"

    response = api_client.post(
        "/data-drift", {"data": query(source, name, **params), "baseline": query("lite", lo=1, hi=300)}, format="json"
    )

    body = assert_failed(response, 503, "dependency_unavailable")
    assert body["error"]["details"] == {"dependency": f"data source {source!r}"}
    assert source in body["error"]["message"]
    assert PASSWORD not in response.content.decode()


def test_a_query_over_the_statement_timeout_is_a_503_naming_the_source(api_client, sources, settings):
    settings.MLSERVICE_DATA_SOURCE_STATEMENT_TIMEOUT_S = 0.5  # read when this test's sources file is first read

    response = api_client.post(
        "/data-drift", {"data": query("pg", "slow", seconds=5), "baseline": query("lite", lo=1, hi=300)}, format="json"
    )

    body = assert_failed(response, 503, "dependency_unavailable")
    assert body["error"]["details"] == {"dependency": "data source 'pg'"}
    assert "did not finish within 0.5 s" in body["error"]["message"]


def test_more_rows_than_the_limit_is_a_413(api_client, sources, settings):
    settings.MLSERVICE_DATA_SOURCE_MAX_ROWS = 100

    response = api_client.post(
        "/data-drift", {"data": query("pg", lo=1, hi=101), "baseline": query("pg", lo=1, hi=100)}, format="json"
    )

    body = assert_failed(response, 413)
    assert list(body["error"]["details"]) == ["data.query"]


def test_a_projects_own_source_trains_and_evaluates(api_client, sources):
    spec = TrainingSpec(model_name="synthetic-own", data=query("synthetic", "rows", n=400, seed=1), target="target",
                        params={"n_estimators": 5})  # fmt: skip
    model_train(spec=spec)

    response = api_client.post(
        "/evaluate", {"model_name": "synthetic-own", "data": query("synthetic", "rows", n=250, seed=2)}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["rows"] == 250


def test_data_sources_lists_names_queries_and_parameters_never_urls_or_secrets(api_client, sources):
    response = api_client.get("/data-sources/")

    assert response.status_code == 200, response.content
    listed = {source["name"]: source for source in response.json()}
    assert sorted(listed) == ["lite", "lite_down", "pg", "pg_down", "synthetic", "synthetic_down"]
    assert listed["pg"]["description"] == "Loans on PostgreSQL"
    assert listed["pg"]["queries"] == [
        {"name": "loans_between", "description": "", "parameters": ["lo", "hi"]},
        {"name": "loans_of_grade", "description": "One grade", "parameters": ["grade"]},
        {"name": "purge", "description": "", "parameters": ["n"]},
        {"name": "purge_by_function", "description": "", "parameters": ["n"]},
        {"name": "slow", "description": "", "parameters": ["seconds"]},
    ]
    assert listed["synthetic"]["queries"] == [
        {"name": "rows", "description": "n seeded rows", "parameters": ["n", "seed"]}
    ]
    text = response.content.decode()
    for secret in (PASSWORD, "postgresql", "sqlite", "127.0.0.1", "SELECT", "${"):
        assert secret not in text


def test_data_sources_without_a_file_is_an_empty_list(api_client, settings):
    settings.MLSERVICE_DATA_SOURCES = ""

    response = api_client.get("/data-sources")

    assert response.status_code == 200
    assert response.json() == []


def test_a_missing_environment_variable_names_the_variable_not_the_value(tmp_path, settings, monkeypatch):
    monkeypatch.delenv("NO_SUCH_PASSWORD", raising=False)
    path = tmp_path / "sources.json"
    path.write_text(
        '{"sources": {"w": {"url": "postgresql://u:${NO_SUCH_PASSWORD}@h/db", "queries": {"q": "SELECT 1"}}}}'
    )
    settings.MLSERVICE_DATA_SOURCES = str(path)

    with pytest.raises(ImproperlyConfigured, match="NO_SUCH_PASSWORD"):
        data_sources()


def test_a_training_token_sees_the_sources_and_an_inference_token_does_not(sources):
    from tests.security.test_roles import client_in

    assert client_in("training").get("/data-sources/").status_code == 200
    assert_failed(client_in("inference").get("/data-sources/"), 403)
