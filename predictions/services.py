"""Writes to the prediction store: bulk inserts on the hot path, ground truth afterwards."""

from __future__ import annotations

import json
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.db.utils import DatabaseError, InterfaceError
from django.utils import timezone

from core.exceptions import DependencyUnavailable, InvalidInput, NotFound
from predictions.models import Prediction, PredictionDay
from predictions.partitions import request_rows_reserve

# From this many rows COPY + a SELECT of the ids beats one INSERT ... VALUES ... RETURNING (measured
# on PostgreSQL 15, 30-column inputs: 4 rows 1.5 vs 3.2 ms, 16 rows 3.9 vs 3.1 ms, 128 rows 27 vs 13 ms).
COPY_MIN_ROWS = 16
COPY_BLOCK_ROWS = 5_000
# COPY's binary format: a signature, flags and header extension (none), rows of length-prefixed
# fields (-1: NULL), and -1 as the end mark.
_COPY_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_BINARY_END = struct.pack(">h", -1)
_COPY_BINARY_NULL = struct.pack(">i", -1)
_COPY_FIELD_LENGTH = struct.Struct(">i").pack
_COPY_INT4_FIELD = struct.Struct(">ii").pack  # length 4, then the value
_POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # binary timestamps count microseconds from it
COPY_COLUMNS = "model_name, model_version, request_id, row_index, inputs, prediction, probabilities, created_at"
# One row of the INSERT: the JSON columns are sent as the text serialised once, cast by the server.
_INSERT_ROW = "(%s, %s, %s, %s, %s::json, %s::json, %s::json, %s)"


@dataclass(frozen=True)
class PredictionBatch:
    """The rows of one request, serialised once: each input and output as a JSON text."""

    model_name: str
    model_version: str
    request_id: uuid.UUID
    inputs: Sequence[str]
    predictions: Sequence[str]
    probabilities: Sequence[str] | None


def predictions_store(*, batch: PredictionBatch) -> list[int]:
    """Store every row of ``batch`` in one transaction and return their ids, in row order.

    On PostgreSQL, large batches go in through COPY (one stream), then their ids come back through
    the (request_id, row_index) index; small ones through one INSERT ... RETURNING of the JSON texts
    as they are. Elsewhere (SQLite, the embedded default) through the ORM's bulk_create.
    """
    try:
        with transaction.atomic():
            if connection.vendor != "postgresql":
                return _store_with_orm(batch)
            if len(batch.inputs) >= COPY_MIN_ROWS:
                return _store_with_copy(batch)
            return _store_with_insert(batch)
    except (DatabaseError, InterfaceError) as exc:
        raise DependencyUnavailable("database", f"storing predictions: {exc}") from exc


def predictions_append(*, batch: PredictionBatch, first_row_index: int) -> int:
    """Store one chunk of a batch job's request, rows numbered from ``first_row_index``; return the count.

    One transaction per chunk and no ids read back (a batch has millions of rows): COPY on
    PostgreSQL, bulk inserts elsewhere. A chunk stored twice is refused (the (request_id, row_index)
    constraint; on partitioned PostgreSQL, request_rows_reserve), so a resumed job starts after the
    rows already committed.
    """
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                request_rows_reserve(
                    request_id=batch.request_id, first_row_index=first_row_index, rows=len(batch.inputs)
                )
                _copy_rows(batch, first_row_index, created_at=timezone.now())
            else:
                rows = _orm_rows(batch, first_row_index)
                Prediction.objects.bulk_create(rows, batch_size=2_000)
    except (DatabaseError, InterfaceError) as exc:
        raise DependencyUnavailable("database", f"storing predictions: {exc}") from exc
    return len(batch.inputs)


def _copy_rows(batch: PredictionBatch, first_row_index: int, *, created_at: datetime) -> None:
    """COPY the batch's rows in PostgreSQL's binary format, built here a block at a time.

    The binary format spares the server the text format's work: finding each line's end, splitting
    it at tabs, undoing escapes and parsing the row index, the UUID and the timestamp (one million
    rows of 30-column inputs: ~20% of the server's CPU for the COPY, measured in the README). The
    json columns are sent as their text, which the server still validates. Every row shares its
    first fields (name, version, request id) and its last (created_at), packed once; psycopg's
    ``write_row`` would adapt every field of every row in Python, half the time of a 200,000-row batch.
    """
    table = Prediction._meta.db_table
    head = b"".join([
        struct.pack(">h", 8),  # fields per row: COPY_COLUMNS
        _copy_binary_text(batch.model_name),
        _copy_binary_text(batch.model_version),
        _COPY_FIELD_LENGTH(16) + batch.request_id.bytes,
    ])  # fmt: skip
    since_epoch = created_at - _POSTGRES_EPOCH
    microseconds = (since_epoch.days * 86_400 + since_epoch.seconds) * 1_000_000 + since_epoch.microseconds
    tail = struct.pack(">iq", 8, microseconds)
    probabilities: Sequence[str | None] = batch.probabilities or [None] * len(batch.inputs)
    length = _COPY_FIELD_LENGTH
    with connection.cursor() as cursor:
        raw_copy = cursor.cursor.copy(f"COPY {table} ({COPY_COLUMNS}) FROM STDIN WITH (FORMAT binary)")
        with connection.wrap_database_errors, raw_copy as copy:
            copy.write(_COPY_BINARY_SIGNATURE)
            for start in range(0, len(batch.inputs), COPY_BLOCK_ROWS):
                stop = min(start + COPY_BLOCK_ROWS, len(batch.inputs))
                fields: list[bytes] = []
                for index, inputs, output, proba in zip(
                    range(first_row_index + start, first_row_index + stop),
                    batch.inputs[start:stop], batch.predictions[start:stop], probabilities[start:stop],
                    strict=True,
                ):  # fmt: skip
                    inputs_bytes, output_bytes = inputs.encode(), output.encode()
                    if proba is None:
                        proba_field = _COPY_BINARY_NULL
                    else:
                        proba_bytes = proba.encode()
                        proba_field = length(len(proba_bytes)) + proba_bytes
                    fields += (
                        head, _COPY_INT4_FIELD(4, index), length(len(inputs_bytes)), inputs_bytes,
                        length(len(output_bytes)), output_bytes, proba_field, tail,
                    )  # fmt: skip
                copy.write(b"".join(fields))
            copy.write(_COPY_BINARY_END)


def _copy_binary_text(text: str) -> bytes:
    """Return a text field in COPY's binary format: its UTF-8 length, then its bytes."""
    data = text.encode()
    return _COPY_FIELD_LENGTH(len(data)) + data


def _store_with_insert(batch: PredictionBatch) -> list[int]:
    table = Prediction._meta.db_table
    count = len(batch.inputs)
    now = timezone.now()
    probabilities: Sequence[str | None] = batch.probabilities or [None] * count
    params: list[Any] = []
    for index in range(count):
        params += (
            batch.model_name, batch.model_version, batch.request_id, index,
            batch.inputs[index], batch.predictions[index], probabilities[index], now,
        )  # fmt: skip
    values = ", ".join([_INSERT_ROW] * count)
    with connection.cursor() as cursor:
        # PostgreSQL returns the ids of a multi-row VALUES in its order (Django's bulk_create relies on it too).
        cursor.execute(f"INSERT INTO {table} ({COPY_COLUMNS}) VALUES {values} RETURNING id", params)  # noqa: S608
        return [row[0] for row in cursor.fetchall()]


def _orm_rows(batch: PredictionBatch, first_row_index: int) -> list[Prediction]:
    now = timezone.now()
    probabilities: Sequence[str | None] = batch.probabilities or [None] * len(batch.inputs)
    return [
        Prediction(
            model_name=batch.model_name,
            model_version=batch.model_version,
            request_id=batch.request_id,
            row_index=first_row_index + index,
            inputs=json.loads(batch.inputs[index]),
            prediction=json.loads(batch.predictions[index]),
            probabilities=_json_or_none(probabilities[index]),
            created_at=now,
        )
        for index in range(len(batch.inputs))
    ]


def _store_with_copy(batch: PredictionBatch) -> list[int]:
    # psycopg 3's COPY on the raw cursor: rows are escaped and streamed by the driver; its errors are
    # turned into Django's DatabaseError like any other query's.
    created_at = timezone.now()
    _copy_rows(batch, 0, created_at=created_at)
    with connection.cursor() as cursor:
        # The ids the sequence gave, in row order, through the (request_id, row_index, created_at) index;
        # the write's created_at prunes a partitioned table to the one partition that holds its rows.
        table = Prediction._meta.db_table
        cursor.execute(
            f"SELECT id FROM {table} WHERE request_id = %s AND created_at = %s ORDER BY row_index",  # noqa: S608
            [batch.request_id, created_at],
        )
        return [row[0] for row in cursor.fetchall()]


def _store_with_orm(batch: PredictionBatch) -> list[int]:
    return [row.pk for row in Prediction.objects.bulk_create(_orm_rows(batch, 0))]


def _json_or_none(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


@dataclass(frozen=True)
class FeedbackItem:
    """Ground truth for one stored prediction, named by id or by (request_id, row_index)."""

    ground_truth: Any
    prediction_id: int | None = None
    request_id: uuid.UUID | None = None
    row_index: int | None = None


def feedback_apply(*, items: Sequence[FeedbackItem]) -> int:
    """Set the ground truth of every item, all or nothing; 404 naming every unknown prediction."""
    _feedback_items_check(items)
    by_id = {item.prediction_id for item in items if item.prediction_id is not None}
    by_request = {(item.request_id, item.row_index) for item in items if item.prediction_id is None}
    with transaction.atomic():
        found = _predictions_for_update(by_id, by_request)
        missing_ids = sorted(by_id - {p.id for p in found.values()})
        known_rows = {(p.request_id, p.row_index) for p in found.values()}
        missing_rows = sorted((str(r), i) for r, i in by_request - known_rows)
        if missing_ids or missing_rows:
            details: dict[str, Any] = {}
            if missing_ids:
                details["prediction_id"] = missing_ids
            if missing_rows:
                details["request_row"] = [{"request_id": r, "row_index": i} for r, i in missing_rows]
            raise NotFound(
                f"{len(missing_ids) + len(missing_rows)} prediction(s) not found; nothing was applied.", details=details
            )
        now = timezone.now()
        updated = []
        for item in items:
            key = item.prediction_id if item.prediction_id is not None else (item.request_id, item.row_index)
            prediction = found[key]
            prediction.ground_truth = item.ground_truth
            prediction.ground_truth_at = now
            updated.append(prediction)
        Prediction.objects.bulk_update(updated, ["ground_truth", "ground_truth_at"], batch_size=1000)
    return len(updated)


def _predictions_for_update(ids: set[int], rows: set[tuple[Any, Any]]) -> dict[Any, Prediction]:
    """Return the named predictions, locked, keyed by id and by (request_id, row_index)."""
    found: dict[Any, Prediction] = {}
    fields = ("id", "request_id", "row_index")
    if ids:
        for prediction in Prediction.objects.select_for_update().filter(id__in=ids).only(*fields):
            found[prediction.id] = prediction
    if rows:
        request_ids = {request_id for request_id, _ in rows}
        candidates = Prediction.objects.select_for_update().filter(request_id__in=request_ids).only(*fields)
        for prediction in candidates:
            if (prediction.request_id, prediction.row_index) in rows:
                found[(prediction.request_id, prediction.row_index)] = prediction
    return found


def _feedback_items_check(items: Sequence[FeedbackItem]) -> None:
    """Refuse an item that names a prediction twice in one call (which ground truth would win?)."""
    seen: set[Any] = set()
    for index, item in enumerate(items):
        key = item.prediction_id if item.prediction_id is not None else (item.request_id, item.row_index)
        if key in seen:
            raise InvalidInput.for_field(f"[{index}]", "names a prediction already given in this call.")
        seen.add(key)


# A day is counted for good this long after its midnight: a request stamped before midnight has
# committed by then (each request, and each chunk of a batch job, commits as it is stored).
DAY_SETTLE = timedelta(minutes=15)


@dataclass(frozen=True)
class DayVolume:
    """A model's stored predictions on one UTC day, in all and per version."""

    day: date
    predictions: int
    by_version: dict[str, int] = field(default_factory=dict)


def prediction_volume_by_day(*, model_name: str, days: int, now: datetime | None = None) -> list[DayVolume]:
    """Return a model's stored predictions per UTC day over the last ``days`` days (today last).

    Closed days come from PredictionDay. A closed day missing there is counted once through the
    prediction_model_time index (an index-only range scan) and kept; today, and yesterday while it
    settles, are counted live: at most a day or so of index entries, never the table.
    """
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    # Days before this one are final.
    settled = min((now - DAY_SETTLE).astimezone(UTC).date(), today)
    counts: dict[date, dict[str, int]] = {first + timedelta(days=offset): {} for offset in range(days)}
    kept = PredictionDay.objects.filter(model_name=model_name, day__gte=first, day__lt=settled)
    counted: set[date] = set()
    for day, version, predictions in kept.values_list("day", "model_version", "predictions"):
        counted.add(day)
        if version:
            counts[day][version] = predictions
    missing = sorted(day for day in counts if day < settled and day not in counted)
    if missing:
        fresh = _counts_by_day(model_name, start=missing[0], end=missing[-1] + timedelta(days=1))
        rows = [
            PredictionDay(model_name=model_name, model_version=version, day=day, predictions=predictions)
            for day in missing
            for version, predictions in (fresh.get(day) or {"": 0}).items()
        ]
        # A concurrent page may have counted the same days: theirs and these are the same rows.
        PredictionDay.objects.bulk_create(rows, ignore_conflicts=True)
        for day in missing:
            counts[day] = fresh.get(day, {})
    if settled <= today:
        live = _counts_by_day(model_name, start=max(settled, first), end=today + timedelta(days=1))
        for day, by_version in live.items():
            counts[day] = by_version
    return [DayVolume(day=day, predictions=sum(v.values()), by_version=v) for day, v in sorted(counts.items())]


def _counts_by_day(model_name: str, *, start: date, end: date) -> dict[date, dict[str, int]]:
    """Return {day: {version: predictions}} of a model's rows stored from ``start`` to ``end`` (UTC days)."""
    rows = (
        Prediction.objects.filter(
            model_name=model_name,
            created_at__gte=datetime.combine(start, datetime.min.time(), tzinfo=UTC),
            created_at__lt=datetime.combine(end, datetime.min.time(), tzinfo=UTC),
        )
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values_list("day", "model_version")
        .annotate(rows=Count("*"))
        .order_by()
    )
    counts: dict[date, dict[str, int]] = {}
    for day, version, predictions in rows:
        counts.setdefault(day, {})[version] = predictions
    return counts
