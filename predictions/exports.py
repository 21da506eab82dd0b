"""GET /predictions/export: one request's (or batch job's) stored rows as CSV or Parquet, streamed.

Rows are read with a cursor a chunk at a time and written as they come (a CSV block, a Parquet row
group per chunk), so a 10M-row batch never sits in memory. Columns: ``prediction_id``,
``row_index``, each input column, ``prediction`` and, for models with probabilities,
``probability_0`` … ``probability_{k-1}`` (the model's class order).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pandas as pd

from predictions.models import Prediction

EXPORT_FORMATS = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
EXPORT_CHUNK_ROWS = 20_000


def predictions_export(*, request_id: uuid.UUID, export_format: str) -> Iterator[bytes]:
    """Yield the rows stored under ``request_id``, in row order, as CSV or Parquet bytes."""
    frames = _frames(request_id)
    return _csv(frames) if export_format == "csv" else _parquet(frames)


def _frames(request_id: uuid.UUID) -> Iterator[pd.DataFrame]:
    rows = (
        Prediction.objects.filter(request_id=request_id)
        .order_by("row_index")
        .values_list("id", "row_index", "inputs", "prediction", "probabilities")
        .iterator(chunk_size=EXPORT_CHUNK_ROWS)
    )
    columns: list[str] | None = None
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == EXPORT_CHUNK_ROWS:
            frame = _frame(chunk, columns)
            columns = list(frame.columns)
            yield frame
            chunk = []
    if chunk or columns is None:
        yield _frame(chunk, columns)


def _frame(rows: list[Any], columns: list[str] | None) -> pd.DataFrame:
    """Return one chunk as a table; later chunks take the first one's columns (same order, same set)."""
    ids = pd.DataFrame({"prediction_id": [row[0] for row in rows], "row_index": [row[1] for row in rows]})
    inputs = pd.DataFrame.from_records([row[2] for row in rows], index=ids.index)
    outputs = pd.DataFrame({"prediction": [row[3] for row in rows]}, index=ids.index)
    probabilities = [row[4] for row in rows]
    parts = [ids, inputs, outputs]
    if any(item is not None for item in probabilities):
        width = max(len(item) for item in probabilities if item is not None)
        padded = [item if item is not None else [None] * width for item in probabilities]
        parts.append(pd.DataFrame(padded, columns=[f"probability_{i}" for i in range(width)], index=ids.index))
    frame = pd.concat(parts, axis=1)
    return frame.reindex(columns=columns) if columns is not None else frame


def _csv(frames: Iterator[pd.DataFrame]) -> Iterator[bytes]:
    header = True
    for frame in frames:
        if header or len(frame):
            yield frame.to_csv(index=False, header=header).encode()
        header = False


class _Sink:
    """A write-only file that hands its bytes out as they are written (Parquet's writer streams into it)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._buffer += data
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def _parquet(frames: Iterator[pd.DataFrame]) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = _Sink()
    writer = None
    schema = None
    for frame in frames:
        if writer is None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            schema = table.schema
            writer = pq.ParquetWriter(sink, schema)
        else:
            # Every chunk in the first one's types (an all-missing column of a later chunk included).
            table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        writer.write_table(table)
        yield sink.take()
    if writer is not None:
        writer.close()
    yield sink.take()
