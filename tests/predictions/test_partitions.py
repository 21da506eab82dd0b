"""The prediction store partitioned by time on PostgreSQL, its maintenance and retention; retention on SQLite.

Every test runs in a transaction that is rolled back, DDL included: partitions a test creates or
drops are gone after it. Dates are far from today, where the migration created no partition
(retention's in the past, so that today's partitions are not older than its cut-off).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta, timezone
from io import StringIO
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext, override_settings

from core.exceptions import DependencyUnavailable
from models_api.tasks import predictions_maintain_task
from predictions import partitions
from predictions.models import Prediction, PredictionDay
from predictions.partitions import (
    DEFAULT_PARTITION,
    archive_name,
    interval_after,
    interval_floor,
    partitions_ensure,
    partitions_list,
    predictions_maintain,
    predictions_retention_apply,
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
        plan = cursor.fetchone()[0]  # json, handed over as text (predictions.apps)

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


# --- Retention ------------------------------------------------------------------------------------

NOW = at("2012-03-22T12:00:00")  # 30 days before: Tuesday 2012-02-21T12:00


def weeks_of_rows() -> dict[str, Prediction]:
    """Partitions of the weeks from Monday 30 January to 9 April 2012, and a row in some of them."""
    with override_settings(MLSERVICE_PREDICTION_PARTITIONS_AHEAD=10):
        partitions_ensure(now=at("2012-01-30T00:00:00"))
    rows = {
        "old": PredictionFactory(created_at=at("2012-01-31T10:00:00")),  # week from 30 Jan
        "older_than_cutoff": PredictionFactory(created_at=at("2012-02-14T10:00:00")),  # week from 13 Feb
        "straddling": PredictionFactory(created_at=at("2012-02-20T10:00:00")),  # week from 20 Feb, before the cut-off
        "recent": PredictionFactory(created_at=at("2012-03-19T10:00:00")),
    }
    PredictionDay.objects.create(model_name="iris", model_version="1", day=at("2012-01-31").date(), predictions=1)
    return rows


@override_settings(**WEEK, MLSERVICE_PREDICTION_RETENTION_DAYS=30, MLSERVICE_PREDICTION_ARCHIVE=False)
def test_retention_drops_the_partitions_older_than_the_cutoff_and_keeps_recent_ones():
    rows = weeks_of_rows()

    applied = predictions_retention_apply(now=NOW)

    assert applied.cutoff == at("2012-02-21T12:00:00")
    assert [(retired.name, retired.rows) for retired in applied.dropped] == [
        ("predictions_prediction_p20120130", 1), ("predictions_prediction_p20120206", 0),
        ("predictions_prediction_p20120213", 1),
    ]  # fmt: skip
    left = set(Prediction.objects.filter(id__in=[row.id for row in rows.values()]).values_list("id", flat=True))
    # A partition is dropped whole once its last day is past the cut-off: the straddling week stays.
    assert left == {rows["straddling"].id, rows["recent"].id}
    assert {"predictions_prediction_p20120130", "predictions_prediction_p20120213"}.isdisjoint(partition_names())
    assert {"predictions_prediction_p20120220", "predictions_prediction_p20120319"} <= partition_names()
    assert PredictionDay.objects.filter(day=at("2012-01-31").date()).exists()


@override_settings(**WEEK, MLSERVICE_PREDICTION_RETENTION_DAYS=30, MLSERVICE_PREDICTION_ARCHIVE=True)
def test_a_dry_run_says_what_it_would_drop_and_changes_nothing(datasets_dir):
    rows = weeks_of_rows()
    before = partition_names()

    applied = predictions_retention_apply(now=NOW, dry_run=True)

    assert applied.dropped[0].name == "predictions_prediction_p20120130"
    assert applied.dropped[0].archive == archive_name("predictions_prediction_p20120130")
    assert partition_names() == before
    assert Prediction.objects.filter(id__in=[row.id for row in rows.values()]).count() == 4
    assert not (datasets_dir / "predictions-archive").exists()


@override_settings(**WEEK, MLSERVICE_PREDICTION_RETENTION_DAYS=0)
def test_without_a_retention_nothing_is_dropped():
    rows = weeks_of_rows()

    applied = predictions_retention_apply(now=NOW)

    assert (applied.days, applied.dropped) == (None, [])
    assert Prediction.objects.filter(id__in=[row.id for row in rows.values()]).count() == 4


@override_settings(**WEEK, MLSERVICE_PREDICTION_RETENTION_DAYS=30, MLSERVICE_PREDICTION_ARCHIVE=True)
def test_the_archive_holds_every_row_of_a_dropped_partition(datasets_dir, monkeypatch):
    monkeypatch.setattr(partitions, "ARCHIVE_CHUNK_ROWS", 2)  # several chunks: the keyset read and row groups
    weeks_of_rows()
    week = [
        PredictionFactory(created_at=at("2012-01-31T10:00:00") + timedelta(hours=i), inputs={"x": i, "s": "é\t"},
                          probabilities=[0.5, 0.5] if i % 2 else None, ground_truth=i, ground_truth_at=NOW)
        for i in range(4)
    ]  # fmt: skip
    expected = Prediction.objects.filter(created_at__lt=at("2012-02-05")).order_by("id")

    rows = list(expected)
    applied = predictions_retention_apply(now=NOW)

    archive = pq.read_table(datasets_dir / archive_name("predictions_prediction_p20120130")).to_pylist()
    assert applied.dropped[0].archive == "predictions-archive/predictions_prediction_p20120130.parquet"
    assert [row["id"] for row in archive] == [row.id for row in rows]
    assert len(rows) == len(week) + 1
    by_id = {row["id"]: row for row in archive}
    for row in rows:
        stored = by_id[row.id]
        assert json.loads(stored["inputs"]) == row.inputs
        assert json.loads(stored["prediction"]) == row.prediction
        assert (json.loads(stored["probabilities"]) if stored["probabilities"] else None) == row.probabilities
        assert (json.loads(stored["ground_truth"]) if stored["ground_truth"] else None) == row.ground_truth
        assert (stored["request_id"], stored["row_index"], stored["created_at"]) == (
            str(row.request_id), row.row_index, row.created_at,
        )  # fmt: skip
    assert not Prediction.objects.filter(created_at__lt=at("2012-02-05")).exists()


@override_settings(**WEEK, MLSERVICE_PREDICTION_RETENTION_DAYS=30, MLSERVICE_PREDICTION_ARCHIVE=True)
def test_a_partition_whose_archive_could_not_be_written_is_kept(settings, tmp_path):
    rows = weeks_of_rows()
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    datasets = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(not_a_folder)}}
    settings.STORAGES = {**settings.STORAGES, "datasets": datasets}

    with pytest.raises(DependencyUnavailable, match="storage"):
        predictions_retention_apply(now=NOW)

    assert "predictions_prediction_p20120130" in partition_names()
    assert Prediction.objects.filter(id=rows["old"].id).exists()


@pytest.mark.s3
@override_settings(**WEEK, MLSERVICE_PREDICTION_RETENTION_DAYS=30, MLSERVICE_PREDICTION_ARCHIVE=True)
def test_the_archive_goes_to_the_s3_datasets_storage_and_replaces_an_earlier_file(s3_storages, s3_client):
    rows = weeks_of_rows()
    name = archive_name("predictions_prediction_p20120130")
    storages["datasets"].save(name, StringIO("left by a run that failed to drop"))

    prefix = "datasets/predictions-archive/"
    try:
        predictions_retention_apply(now=NOW)

        keys = [item["Key"] for item in s3_client.list_objects_v2(Bucket="mlservice-test", Prefix=prefix)["Contents"]]
        body = s3_client.get_object(Bucket="mlservice-test", Key=f"datasets/{name}")["Body"].read()
    finally:
        for item in s3_client.list_objects_v2(Bucket="mlservice-test", Prefix=prefix).get("Contents", []):
            s3_client.delete_object(Bucket="mlservice-test", Key=item["Key"])
    archived = pq.read_table(pa.BufferReader(body)).to_pylist()
    assert [row["id"] for row in archived] == [rows["old"].id]
    # The earlier file was replaced, not kept beside the new one under another name.
    assert keys == [f"{prefix}predictions_prediction_p2012{day}.parquet" for day in ("0130", "0206", "0213")]


@override_settings(**WEEK, MLSERVICE_PREDICTION_RETENTION_DAYS=30)
def test_maintenance_moves_stray_rows_into_partitions_before_dropping_the_expired_ones():
    weeks_of_rows()
    stray = PredictionFactory(created_at=at("2011-11-01T10:00:00"))  # no partition: the default one

    done = predictions_maintain(now=NOW)

    assert "predictions_prediction_p20111031" in done.partitions.created
    assert done.partitions.moved_rows == 1
    assert "predictions_prediction_p20111031" in [retired.name for retired in done.retention.dropped]
    assert not Prediction.objects.filter(id=stray.id).exists()


@override_settings(MLSERVICE_PREDICTION_RETENTION_DAYS=365, MLSERVICE_PREDICTION_PARTITION_INTERVAL="week")
def test_the_command_prints_what_it_creates_and_drops_and_a_dry_run_prints_the_same_and_changes_nothing():
    old = PredictionFactory(created_at=datetime.now(UTC) - timedelta(days=800))
    week = interval_floor(old.created_at, "week")
    name = f"predictions_prediction_p{week:%Y%m%d}"
    dry, real = StringIO(), StringIO()

    call_command("predictions_retention", "--dry-run", stdout=dry)
    assert Prediction.objects.filter(id=old.id).exists()
    call_command("predictions_retention", stdout=real)

    # Each step of a dry run reads the store as it is: the partition to be created is not yet one to drop.
    assert f"partition {name} would be created" in dry.getvalue()
    assert "1 row would be moved out of the default partition" in dry.getvalue()
    assert f"partition {name} created" in real.getvalue()
    assert "1 row moved out of the default partition" in real.getvalue()
    assert f"partition {name} dropped (1 row)" in real.getvalue()
    assert "retention 365 days" in real.getvalue()
    assert not Prediction.objects.filter(id=old.id).exists()


@override_settings(**WEEK)
def test_the_hourly_schedule_runs_the_maintenance(settings):
    assert settings.CELERY_BEAT_SCHEDULE["prediction-store"]["task"] == predictions_maintain_task.name
    stray = PredictionFactory(created_at=at("2041-05-08T10:00:00"))

    counts = predictions_maintain_task()

    assert counts["moved_rows"] == 1
    assert partition_of(Prediction.objects.get(id=stray.id)) == "predictions_prediction_p20410506"


def test_a_second_maintenance_at_the_same_time_does_nothing_and_says_so():
    import psycopg

    database = connection.settings_dict
    other = psycopg.connect(host=database["HOST"], port=database["PORT"], user=database["USER"],
                            dbname=database["NAME"], autocommit=True)  # fmt: skip
    try:
        other.execute("SELECT pg_advisory_lock(%s, %s)", list(partitions.ADVISORY_MAINTENANCE))
        with pytest.raises(CommandError, match="another maintenance"):
            call_command("predictions_retention", stdout=StringIO())
        assert predictions_maintain_task() == {}
    finally:
        other.close()


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


# --- SQLite ---------------------------------------------------------------------------------------

SQLITE_RETENTION = """
from datetime import timedelta
import django
django.setup()
from django.core.management import CommandError, call_command
from django.utils import timezone
from predictions.models import Prediction

call_command("migrate", verbosity=0)
now = timezone.now()
for days in (45, 31, 29, 1):
    Prediction.objects.create(model_name="lite", model_version="1", request_id="5f0c6a36-8d0b-4a53-9f35-5d7a6e1f0b2a",
                              row_index=days, inputs={}, prediction=0, created_at=now - timedelta(days=days))
call_command("predictions_retention", "--dry-run")
print("LEFT", sorted(Prediction.objects.values_list("row_index", flat=True)))
call_command("predictions_retention")
print("LEFT", sorted(Prediction.objects.values_list("row_index", flat=True)))
"""


def test_sqlite_keeps_a_plain_table_and_retention_deletes_the_older_rows(settings, tmp_path: Path):
    env = {"DJANGO_SETTINGS_MODULE": "mlservice.settings", "MLSERVICE_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
           "MLSERVICE_PREDICTION_RETENTION_DAYS": "30"}  # fmt: skip

    result = subprocess.run([sys.executable, "-c", SQLITE_RETENTION], cwd=settings.BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=180, check=True)  # fmt: skip

    output = result.stdout
    assert "2 rows would be deleted" in output, result.stderr[-2000:]
    assert output.count("LEFT") == 2
    first, second = (line for line in output.splitlines() if line.startswith("LEFT"))
    assert first == "LEFT [1, 29, 31, 45]"
    assert second == "LEFT [1, 29]"
    assert "2 rows deleted" in output


def version_recent_definition() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef('prediction_version_recent'::regclass)")
        return cursor.fetchone()[0]


def test_the_version_index_becomes_ascending_on_every_partition_and_back():
    migrate("0005_prediction_json_text")
    assert version_recent_definition().endswith("(model_name, model_version, id DESC)")

    migrate("0006_prediction_version_recent_ascending")

    assert version_recent_definition().endswith("(model_name, model_version, id)")
    with connection.cursor() as cursor:  # every partition's index follows the partitioned one
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE pg_get_indexdef(i.inhrelid)"
            " LIKE '%%(model_name, model_version, id)') FROM pg_inherits i"
            " WHERE i.inhparent = 'prediction_version_recent'::regclass"
        )
        partitions, ascending = cursor.fetchone()
    assert partitions == ascending == len(partitions_list()) + 1  # and the default partition's
    row = PredictionFactory()
    assert Prediction.objects.filter(model_name=row.model_name, model_version=row.model_version).first() == row

    migrate("0005_prediction_json_text")  # and back
    assert version_recent_definition().endswith("(model_name, model_version, id DESC)")
    migrate("0006_prediction_version_recent_ascending")
