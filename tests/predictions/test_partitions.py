"""The prediction store partitioned by time on PostgreSQL: partitions, the default partition, the migration.

Every test runs in a transaction that is rolled back, DDL included: partitions a test creates or
drops are gone after it. Dates are far from today, where the migration created no partition.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext, override_settings

from core.exceptions import DependencyUnavailable
from predictions.models import Prediction
from predictions.partitions import (
    DEFAULT_PARTITION,
    interval_after,
    interval_floor,
    partitions_ensure,
    partitions_list,
)
from predictions.services import PredictionBatch, predictions_append, predictions_store
from tests.predictions.factories import PredictionFactory

pytestmark = pytest.mark.django_db

WEEK = {"MLSERVICE_PREDICTION_PARTITION_INTERVAL": "week", "MLSERVICE_PREDICTION_PARTITIONS_AHEAD": 2}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


PRIMARY_KEY = "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'predictions_prediction_pkey'"


def partition_of(prediction: Prediction) -> str:
    """Return the partition PostgreSQL stored a row in."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM predictions_prediction WHERE id = %s", [prediction.id])
        return cursor.fetchone()[0]


def partition_names() -> set[str]:
    """Return every partition of the table, the default one included (from pg_inherits)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'predictions_prediction'::regclass"
        )
        return {name for (name,) in cursor.fetchall()}


# --- Intervals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "moment", "start", "end"),
    [
        ("day", "2040-03-07T23:59:59", "2040-03-07", "2040-03-08"),
        ("week", "2040-03-07T10:00:00", "2040-03-05", "2040-03-12"),  # a Wednesday: its week starts Monday
        ("week", "2040-03-05T00:00:00", "2040-03-05", "2040-03-12"),
        ("month", "2040-12-31T23:00:00", "2040-12-01", "2041-01-01"),
    ],
)
def test_an_interval_starts_at_a_utc_midnight_and_ends_where_the_next_starts(interval, moment, start, end):
    elsewhere = at(moment).astimezone(timezone(timedelta(hours=-5)))  # the same instant, another day's date

    assert interval_floor(elsewhere, interval) == at(start)
    assert interval_after(at(start), interval) == at(end)


# --- Partitions -----------------------------------------------------------------------------------


def test_the_table_is_partitioned_with_a_default_partition_and_a_two_column_primary_key():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_partkeydef('predictions_prediction'::regclass)")
        key = cursor.fetchone()[0]
        cursor.execute(PRIMARY_KEY)
        primary_key = cursor.fetchone()[0]

    assert key == "RANGE (created_at)"
    assert primary_key == "PRIMARY KEY (id, created_at)"
    assert DEFAULT_PARTITION in partition_names()


@override_settings(**WEEK)
def test_partitions_ahead_are_created_once_named_after_their_first_day():
    now = at("2040-03-07T10:00:00")

    first = partitions_ensure(now=now)
    again = partitions_ensure(now=now)

    assert first.created == [
        "predictions_prediction_p20400305", "predictions_prediction_p20400312", "predictions_prediction_p20400319",
    ]  # fmt: skip
    assert again.created == []
    created = {partition.name: partition for partition in partitions_list()}
    assert (created["predictions_prediction_p20400312"].start, created["predictions_prediction_p20400312"].end) == (
        at("2040-03-12"), at("2040-03-19"),
    )  # fmt: skip


@override_settings(**WEEK)
def test_a_row_is_stored_in_the_partition_of_its_week():
    partitions_ensure(now=at("2040-03-07T10:00:00"))

    monday = PredictionFactory(created_at=at("2040-03-12T00:00:00"))
    sunday = PredictionFactory(created_at=at("2040-03-11T23:59:59"))

    assert partition_of(monday) == "predictions_prediction_p20400312"
    assert partition_of(sunday) == "predictions_prediction_p20400305"


@override_settings(**WEEK)
def test_a_row_no_partition_covers_lands_in_the_default_partition_and_maintenance_moves_it_out():
    partitions_ensure(now=at("2040-03-07T10:00:00"))
    stray = PredictionFactory(created_at=at("2040-06-14T08:00:00"), inputs={"x": 1})
    assert partition_of(stray) == DEFAULT_PARTITION

    ensured = partitions_ensure(now=at("2040-03-07T10:00:00"))

    assert ensured.created == ["predictions_prediction_p20400611"]
    assert ensured.moved_rows == 1
    moved = Prediction.objects.get(id=stray.id)
    assert partition_of(moved) == "predictions_prediction_p20400611"
    assert (moved.request_id, moved.inputs, moved.created_at) == (stray.request_id, {"x": 1}, stray.created_at)
    assert DEFAULT_PARTITION in partition_names()
    assert partition_of(PredictionFactory(created_at=at("2040-09-01T00:00:00"))) == DEFAULT_PARTITION


@override_settings(MLSERVICE_PREDICTION_PARTITIONS_AHEAD=0)
def test_a_new_interval_setting_fills_only_what_existing_partitions_leave_uncovered():
    with override_settings(MLSERVICE_PREDICTION_PARTITION_INTERVAL="week"):
        partitions_ensure(now=at("2040-03-07T10:00:00"))  # the week of 5 March
    stray = PredictionFactory(created_at=at("2040-03-12T09:00:00"))

    with override_settings(MLSERVICE_PREDICTION_PARTITION_INTERVAL="month"):
        ensured = partitions_ensure(now=at("2040-03-07T10:00:00"))

    # March minus the week that exists: the days before it, and from its end to April.
    assert ensured.created == ["predictions_prediction_p20400301", "predictions_prediction_p20400312"]
    assert partition_of(Prediction.objects.get(id=stray.id)) == "predictions_prediction_p20400312"


def test_the_hot_path_reads_its_ids_back_from_one_partition():
    inputs = [json.dumps({"x": i}) for i in range(40)]
    batch = PredictionBatch(model_name="prune", model_version="1", request_id=uuid.uuid4(), inputs=inputs,
                            predictions=["1"] * 40, probabilities=None)  # fmt: skip

    with CaptureQueriesContext(connection) as queries:
        ids = predictions_store(batch=batch)  # 40 rows: COPY, then the ids by request id and created_at
    read_back = next(query["sql"] for query in queries.captured_queries if query["sql"].startswith("SELECT id FROM"))
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {read_back}")
        plan = json.dumps(cursor.fetchone()[0])

    assert len(ids) == 40
    scanned = {name for name in partition_names() if f'"Relation Name": "{name}"' in plan}
    assert scanned == {partition_of(Prediction.objects.get(id=ids[0]))}


@override_settings(**WEEK)
def test_a_chunk_of_a_batch_stored_again_later_is_refused_whatever_its_timestamp():
    inputs = [json.dumps({"x": i}) for i in range(5)]
    batch = PredictionBatch(model_name="resume", model_version="1", request_id=uuid.uuid4(), inputs=inputs,
                            predictions=["0"] * 5, probabilities=None)  # fmt: skip
    predictions_append(batch=batch, first_row_index=0)

    # A second attempt of the job (its rows stamped later than the first's) writes the same rows again.
    with pytest.raises(DependencyUnavailable, match="is stored already"):
        predictions_append(batch=batch, first_row_index=3)
    predictions_append(batch=batch, first_row_index=5)

    rows = Prediction.objects.filter(request_id=batch.request_id)
    assert sorted(rows.values_list("row_index", flat=True)) == list(range(10))


@override_settings(**WEEK)
def test_cursor_pagination_walks_rows_of_every_partition_once_newest_id_first(api_client):
    partitions_ensure(now=at("2040-03-07T10:00:00"))
    dates = ["2040-03-13", "2040-03-06", "2040-03-20", "2040-03-06", "2040-07-01", "2040-03-13"]  # default too
    created = [PredictionFactory(created_at=at(f"{day}T12:00:00")).id for day in dates]
    seen: list[int] = []
    url = "/predictions/?page_size=4&model_name=iris"

    while url:
        response = api_client.get(url)
        seen += [row["id"] for row in response.json()["results"]]
        url = response.json()["next"]

    assert seen == sorted(created, reverse=True)


# --- The migration --------------------------------------------------------------------------------


def migrate(target: str) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([("predictions", target)])
    return executor


@override_settings(**WEEK)
def test_the_migration_partitions_an_existing_table_with_its_rows_and_back():
    migrate("0003_operator_page")
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE relname = 'predictions_prediction'")
        assert cursor.fetchone()[0] == "r"
    old = [PredictionFactory(created_at=at(day), ground_truth=1) for day in ("2030-01-02", "2030-01-09", "2030-05-01")]

    migrate("0004_partition_by_time")

    assert [partition_of(Prediction.objects.get(id=row.id)) for row in old] == [
        "predictions_prediction_p20291231", "predictions_prediction_p20300107", "predictions_prediction_p20300429",
    ]  # fmt: skip
    assert [Prediction.objects.get(id=row.id).ground_truth for row in old] == [1, 1, 1]
    assert PredictionFactory().id > max(row.id for row in old)  # the id sequence goes on
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = 'predictions_prediction'::regclass AND c.relkind = 'I'"
        )
        indexes = {name for (name,) in cursor.fetchall()}
    model_indexes = {index.name for index in Prediction._meta.indexes}
    assert indexes == model_indexes | {"predictions_prediction_pkey", "prediction_request_row_unique"}

    migrate("0003_operator_page")  # and back: the rows go with it

    assert set(Prediction.objects.values_list("id", flat=True)) >= {row.id for row in old}
    with connection.cursor() as cursor:
        cursor.execute(PRIMARY_KEY)
        assert cursor.fetchone()[0] == "PRIMARY KEY (id)"
    migrate("0004_partition_by_time")
