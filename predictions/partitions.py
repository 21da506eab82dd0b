"""The prediction store's partitions (PostgreSQL) and its retention (every database).

On PostgreSQL ``predictions_prediction`` is partitioned by range of ``created_at`` (migration 0004):
one partition per UTC interval (MLSERVICE_PREDICTION_PARTITION_INTERVAL: day, ISO week from Monday,
or month) named ``predictions_prediction_pYYYYMMDD`` after its first day, and a DEFAULT partition
that takes any row no partition covers, so that a write never fails for want of a partition.
Maintenance (``manage.py predictions_retention`` and a scheduled task) creates the partitions
ahead, moves rows out of the default partition into partitions of their own, and applies
MLSERVICE_PREDICTION_RETENTION_DAYS by dropping whole partitions, each optionally archived to
Parquet in the datasets storage first. Elsewhere (SQLite) the table is plain and retention deletes
old rows in batches.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.exceptions import Conflict
from core.storage import storage_errors
from predictions.models import Prediction

TABLE = Prediction._meta.db_table
DEFAULT_PARTITION = f"{TABLE}_default"
ARCHIVE_FOLDER = "predictions-archive"
ARCHIVE_CHUNK_ROWS = 20_000
DELETE_BATCH_ROWS = 10_000
# Maintenance's DDL waits this long for its locks, then gives up until the next run: a CREATE or a
# DROP queued behind a long read (an export) would otherwise stall every insert queued behind it.
LOCK_TIMEOUT = "5s"
# Advisory lock keys (the two-int form): one maintenance at a time; one writer per request id.
ADVISORY_MAINTENANCE = (7_340_001, 0)
ADVISORY_REQUEST_CLASS = 7_340_002
# Every column of a row, in the model's order: rows moved out of the default partition.
COLUMNS = [model_field.column for model_field in Prediction._meta.concrete_fields if model_field.column]


@dataclass(frozen=True)
class Partition:
    """A range partition of the prediction store: its rows have ``start <= created_at < end``."""

    name: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class PartitionsEnsured:
    """What ``partitions_ensure`` created (or would), and the rows it moved out of the default partition."""

    created: list[str] = field(default_factory=list)
    moved_rows: int = 0


@dataclass(frozen=True)
class PartitionRetired:
    """A partition past retention: its rows, and where they were archived (None without an archive)."""

    name: str
    rows: int
    archive: str | None


@dataclass(frozen=True)
class RetentionApplied:
    """What retention dropped (PostgreSQL) or deleted (elsewhere), or would have, on a dry run."""

    days: int | None
    cutoff: datetime | None
    dropped: list[PartitionRetired] = field(default_factory=list)
    deleted_rows: int = 0


@dataclass(frozen=True)
class StoreMaintained:
    """One maintenance run of the prediction store: partitions ahead, then retention."""

    partitions: PartitionsEnsured
    retention: RetentionApplied
    dry_run: bool


def predictions_maintain(*, now: datetime | None = None, dry_run: bool = False) -> StoreMaintained:
    """Create the partitions ahead (and move stray rows), then apply retention; one run at a time."""
    now = now or timezone.now()
    with _maintenance_lock():
        partitions = partitions_ensure(now=now, dry_run=dry_run)
        retention = predictions_retention_apply(now=now, dry_run=dry_run)
    return StoreMaintained(partitions=partitions, retention=retention, dry_run=dry_run)


# --- Intervals and names --------------------------------------------------------------------------


def interval_floor(moment: datetime, interval: str) -> datetime:
    """Return the UTC midnight that starts the interval holding ``moment`` (weeks start on Monday)."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def interval_after(start: datetime, interval: str) -> datetime:
    """Return the start of the interval after the one starting at ``start``."""
    if interval == "week":
        return start + timedelta(days=7)
    if interval == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start + timedelta(days=1)


def partition_name(start: datetime) -> str:
    """Return the name of the partition that starts at ``start``: predictions_prediction_pYYYYMMDD."""
    return f"{TABLE}_p{start.astimezone(UTC):%Y%m%d}"


# --- Partitions (PostgreSQL) ----------------------------------------------------------------------


def predictions_partitioned() -> bool:
    """Return whether the prediction store is a partitioned table (PostgreSQL, after migration 0004)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def partitions_list() -> list[Partition]:
    """Return the range partitions of the prediction store, oldest first (the default partition aside)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
            [TABLE],
        )
        rows = cursor.fetchall()
    partitions = [partition for name, bound in rows if (partition := _partition_from_bound(name, bound))]
    return sorted(partitions, key=lambda partition: partition.start)


def _partition_from_bound(name: str, bound: str) -> Partition | None:
    """Return a partition from its bound, as PostgreSQL prints it: FOR VALUES FROM ('…') TO ('…').

    None for the default partition (and for a bound made by hand with MINVALUE or MAXVALUE, which
    maintenance leaves alone).
    """
    prefix, _, rest = bound.partition("FROM ('")
    start, _, rest = rest.partition("') TO ('")
    end, _, _ = rest.partition("')")
    if prefix != "FOR VALUES " or not start or not end:
        return None
    return Partition(name=name, start=datetime.fromisoformat(start), end=datetime.fromisoformat(end))


def partitions_ensure(*, now: datetime | None = None, dry_run: bool = False) -> PartitionsEnsured:
    """Create the partitions of the current interval and MLSERVICE_PREDICTION_PARTITIONS_AHEAD after it.

    Rows found in the default partition (dated where no partition was) get partitions of their own
    and are moved there, with the default partition detached meanwhile: PostgreSQL refuses to create
    a partition whose range the default partition holds rows of. Nothing is locked when nothing is
    missing. No-op where the table isn't partitioned.
    """
    if not predictions_partitioned():
        return PartitionsEnsured()
    now = now or timezone.now()
    interval = settings.MLSERVICE_PREDICTION_PARTITION_INTERVAL
    ahead = interval_starts(interval_floor(now, interval), interval, settings.MLSERVICE_PREDICTION_PARTITIONS_AHEAD)
    if dry_run:
        missing = partitions_missing(starts=set(ahead) | _default_partition_starts(interval), interval=interval)
        return PartitionsEnsured(created=[name for name, _, _ in missing], moved_rows=_default_partition_rows())
    with transaction.atomic():
        _lock_timeout_set()
        if not _default_partition_exists():
            default_partition_create()  # dropped by hand: the safety net comes back
        if not partitions_missing(starts=set(ahead) | _default_partition_starts(interval), interval=interval):
            return PartitionsEnsured()
        # From here no row can arrive in the default partition: the set of starts is final.
        _execute(f"LOCK TABLE {_quoted(TABLE)} IN ACCESS EXCLUSIVE MODE")
        stray = _default_partition_starts(interval)
        if not stray:
            return PartitionsEnsured(created=partitions_create(starts=ahead, interval=interval))
        return _default_partition_empty(starts=set(ahead) | stray, interval=interval)


def partitions_missing(*, starts: Iterable[datetime], interval: str) -> list[tuple[str, datetime, datetime]]:
    """Return (name, start, end) of the partitions the intervals starting at ``starts`` still need.

    A part of an interval that an existing partition covers (made with another interval setting) is
    left to it: only the uncovered pieces are returned, each named after its own first day.
    """
    existing = partitions_list()
    pieces: list[tuple[str, datetime, datetime]] = []
    for start in sorted(set(starts)):
        end = interval_after(start, interval)
        cursor = start
        for partition in existing:
            if partition.end <= cursor or partition.start >= end:
                continue
            if partition.start > cursor:
                pieces.append((partition_name(cursor), cursor, partition.start))
            cursor = max(cursor, partition.end)
        if cursor < end:
            pieces.append((partition_name(cursor), cursor, end))
    return pieces


def partitions_create(*, starts: Iterable[datetime], interval: str) -> list[str]:
    """Create the partitions the intervals starting at ``starts`` still need; return their names."""
    missing = partitions_missing(starts=starts, interval=interval)
    for name, start, end in missing:
        _execute(
            f"CREATE TABLE {_quoted(name)} PARTITION OF {_quoted(TABLE)}"
            f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    return [name for name, _, _ in missing]


def default_partition_create() -> None:
    """Create the default partition: where a row no range partition covers is stored."""
    _execute(f"CREATE TABLE {_quoted(DEFAULT_PARTITION)} PARTITION OF {_quoted(TABLE)} DEFAULT")


def _default_partition_empty(*, starts: set[datetime], interval: str) -> PartitionsEnsured:
    """Detach the default partition, create the partitions, move its rows into them and attach it again.

    The caller holds the table's lock, in one transaction: readers wait for it, then see the rows
    where they went, never missing or twice.
    """
    table, default = _quoted(TABLE), _quoted(DEFAULT_PARTITION)
    _execute(f"ALTER TABLE {table} DETACH PARTITION {default}")
    created = partitions_create(starts=starts, interval=interval)
    columns = ", ".join(_quoted(column) for column in COLUMNS)
    moved = _execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {default}")  # noqa: S608
    _execute(f"TRUNCATE {default}")
    _execute(f"ALTER TABLE {table} ATTACH PARTITION {default} DEFAULT")
    return PartitionsEnsured(created=created, moved_rows=moved)


def _default_partition_starts(interval: str) -> set[datetime]:
    """Return the starts of the intervals the default partition's rows fall in (it is small, or empty)."""
    if not _default_partition_exists():
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT date_trunc(%s, created_at AT TIME ZONE 'UTC') FROM {_quoted(DEFAULT_PARTITION)}",  # noqa: S608
            [interval],
        )
        return {start.replace(tzinfo=UTC) for (start,) in cursor.fetchall()}


def _default_partition_exists() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [DEFAULT_PARTITION])
        return bool(cursor.fetchone()[0])


def _default_partition_rows() -> int:
    if not _default_partition_exists():
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {_quoted(DEFAULT_PARTITION)}")  # noqa: S608
        return int(cursor.fetchone()[0])


def interval_starts(first: datetime, interval: str, ahead: int) -> list[datetime]:
    """Return ``first`` and the starts of the ``ahead`` intervals after it."""
    starts = [first]
    for _ in range(ahead):
        starts.append(interval_after(starts[-1], interval))
    return starts


# --- Retention ------------------------------------------------------------------------------------


def predictions_retention_apply(*, now: datetime | None = None, dry_run: bool = False) -> RetentionApplied:
    """Remove predictions older than MLSERVICE_PREDICTION_RETENTION_DAYS (0 or unset: keep them all).

    PostgreSQL drops every partition whose upper bound is at or before the cut-off (so rows are kept
    at least the retention, at most one interval more), each archived to Parquet first when
    MLSERVICE_PREDICTION_ARCHIVE is on. Elsewhere the rows older than the cut-off are deleted in
    batches. The daily summaries (PredictionDay) are kept. A dry run counts and changes nothing.
    """
    days = settings.MLSERVICE_PREDICTION_RETENTION_DAYS
    if not days:
        return RetentionApplied(days=None, cutoff=None)
    cutoff = (now or timezone.now()) - timedelta(days=days)
    if not predictions_partitioned():
        return RetentionApplied(days=days, cutoff=cutoff, deleted_rows=_rows_delete_before(cutoff, dry_run=dry_run))
    archive = settings.MLSERVICE_PREDICTION_ARCHIVE
    expired = [partition for partition in partitions_list() if partition.end <= cutoff]
    dropped = [partition_retire(partition=partition, archive=archive, dry_run=dry_run) for partition in expired]
    return RetentionApplied(days=days, cutoff=cutoff, dropped=dropped)


def partition_retire(*, partition: Partition, archive: bool, dry_run: bool = False) -> PartitionRetired:
    """Drop one partition, archived first when ``archive``; all in one transaction.

    The partition is locked against writes (feedback on an old row) while it is counted and
    archived, so the file holds every row as it was dropped, and it is dropped only once the file
    is written. A failure (storage down, a lock not granted in time) leaves it for the next run.
    """
    name = _quoted(partition.name)
    with transaction.atomic():
        _lock_timeout_set()
        _execute(f"LOCK TABLE {name} IN SHARE MODE")
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {name}")  # noqa: S608
            rows = int(cursor.fetchone()[0])
        location = archive_name(partition.name) if archive else None
        if dry_run:
            return PartitionRetired(name=partition.name, rows=rows, archive=location)
        if archive:
            location = partition_archive(partition=partition)
        _execute(f"DROP TABLE {name}")
    return PartitionRetired(name=partition.name, rows=rows, archive=location)


def _rows_delete_before(cutoff: datetime, *, dry_run: bool) -> int:
    """Delete the rows stored before ``cutoff``, a batch per transaction (through the prediction_time index)."""
    old = Prediction.objects.filter(created_at__lt=cutoff)
    if dry_run:
        return old.count()
    deleted = 0
    while True:
        batch, _ = Prediction.objects.filter(pk__in=old.values("pk")[:DELETE_BATCH_ROWS]).delete()
        deleted += batch
        if batch < DELETE_BATCH_ROWS:
            return deleted


# --- Archive --------------------------------------------------------------------------------------


def archive_name(partition: str) -> str:
    """Return where a partition is archived in the datasets storage."""
    return f"{ARCHIVE_FOLDER}/{partition}.parquet"


def partition_archive(*, partition: Partition) -> str:
    """Write every row of a partition to Parquet in the datasets storage; return the file's name.

    Rows are read by id a chunk at a time and written as a row group each to a temporary file, so
    memory holds one chunk, then the file is stored under ``archive_name`` (replacing one an earlier,
    failed run left). JSON columns are kept as their JSON text: one file holds every model's rows.
    """
    name = archive_name(partition.name)
    storage = storages["datasets"]
    with tempfile.TemporaryFile(suffix=".parquet") as handle:
        _parquet_write(_archive_chunks(partition.name), handle)
        handle.seek(0)
        with storage_errors("archiving predictions"):
            if storage.exists(name):
                storage.delete(name)
            stored = storage.save(name, File(handle))
    if stored != name:
        raise Conflict(f"the archive of {partition.name} was stored as {stored!r}, not {name!r}.")
    return name


def archive_schema() -> Any:
    """Return the archive's Parquet schema: a row's columns, JSON as text, times in UTC."""
    import pyarrow as pa

    text, when = pa.string(), pa.timestamp("us", tz="UTC")
    return pa.schema([
        ("id", pa.int64()), ("model_name", text), ("model_version", text), ("request_id", text),
        ("row_index", pa.int64()), ("inputs", text), ("prediction", text), ("probabilities", text),
        ("ground_truth", text), ("ground_truth_at", when), ("created_at", when),
    ])  # fmt: skip


def _archive_chunks(partition: str) -> Iterator[list[tuple[Any, ...]]]:
    """Yield a partition's rows by ascending id, ARCHIVE_CHUNK_ROWS at a time (keyset on its primary key)."""
    columns = (
        "id, model_name, model_version, request_id::text, row_index, inputs::text, prediction::text,"
        " probabilities::text, ground_truth::text, ground_truth_at, created_at"
    )
    query = f"SELECT {columns} FROM {_quoted(partition)} WHERE id > %s ORDER BY id LIMIT %s"  # noqa: S608
    last = -1
    while True:
        with connection.cursor() as cursor:
            cursor.execute(query, [last, ARCHIVE_CHUNK_ROWS])
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _parquet_write(chunks: Iterable[Sequence[tuple[Any, ...]]], handle: IO[bytes]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = archive_schema()
    with pq.ParquetWriter(handle, schema) as writer:
        for rows in chunks:
            columns = zip(*rows, strict=True)
            arrays = [
                pa.array(column, type=column_type) for column, column_type in zip(columns, schema.types, strict=True)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


# --- One writer per request ------------------------------------------------------------------------


def request_rows_reserve(*, request_id: uuid.UUID, first_row_index: int, rows: int) -> None:
    """Refuse to store rows of a request that are stored already (IntegrityError); PostgreSQL only.

    The (request_id, row_index) unique index of a partitioned table must hold the partition key, so
    it refuses a row twice only within one write (its rows share one created_at). A batch job writes
    its request in chunks stamped apart: this takes a lock on the request id until the transaction
    ends (two attempts of one job take turns) and checks that no row of the chunk's range is stored.
    """
    with connection.cursor() as cursor:
        key = int.from_bytes(request_id.bytes[:4], "big", signed=True)
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_REQUEST_CLASS, key])
        cursor.execute(
            f"SELECT row_index FROM {_quoted(TABLE)} WHERE request_id = %s AND row_index >= %s AND row_index < %s"  # noqa: S608
            " LIMIT 1",
            [request_id, first_row_index, first_row_index + rows],
        )
        stored = cursor.fetchone()
    if stored is not None:
        raise IntegrityError(f"row {stored[0]} of request {request_id} is stored already; nothing was stored.")


# --- Helpers --------------------------------------------------------------------------------------


@contextmanager
def _maintenance_lock() -> Iterator[None]:
    """Hold the maintenance's session lock (PostgreSQL): a second run at the same time is a Conflict."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", list(ADVISORY_MAINTENANCE))
        if not cursor.fetchone()[0]:
            raise Conflict("another maintenance of the prediction store is running.")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", list(ADVISORY_MAINTENANCE))


def _lock_timeout_set() -> None:
    """Give up on a lock after LOCK_TIMEOUT, for the rest of the transaction."""
    _execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")


def _execute(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.rowcount


def _quoted(name: str) -> str:
    return connection.ops.quote_name(name)
