"""A PostgreSQL source's chunks are the frames its text rows made: fetched in binary (numbers, text) or as text,
through one NumPy array when every column is float8 or through pandas' records."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest
import yaml

from core.datasources import SAME_VALUE_IN_BINARY, data_sources, query_read

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
ROWS = [
    (1, True, 2**62, -32768, 0.1, 0.30000000000000004, Decimal("1.50"), "é\t\\ 中", 0.1, "2026-01-02"),
    (2, False, -1, 0, float("nan"), 5e-324, Decimal("NaN"), "", 1e-45, "1999-12-31"),
    (3, None, None, None, None, None, None, None, None, None),
    (4, True, 0, 7, float("inf"), -0.0, Decimal("123456789012345678901234567890.123456789"), "a", 3.4e38, None),
]
QUERIES = {
    "numbers": "SELECT flag, big, small, f8a, f8b, num, label FROM typed ORDER BY id",
    "doubles": "SELECT f8a, f8b FROM typed ORDER BY id",
    "everything": "SELECT * FROM typed ORDER BY id",
}
NUMBERS = QUERIES["numbers"]


@pytest.fixture(scope="module")
def typed_warehouse() -> Iterator[str]:
    name = f"warehouse_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}") as conn:
            conn.execute("CREATE TABLE typed (id integer PRIMARY KEY, flag boolean, big bigint, small smallint, "
                         "f8a double precision, f8b double precision, num numeric, label varchar(20), f4 real, "
                         "day date)")  # fmt: skip
            with conn.cursor().copy("COPY typed FROM STDIN") as copy:
                for row in ROWS:
                    copy.write_row(row)
        yield name
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def typed_source(typed_warehouse: str, tmp_path: Path, settings: Any) -> str:
    config = {"sources": {"typed": {"url": f"postgresql://postgres@127.0.0.1:5432/{typed_warehouse}",
                                    "queries": QUERIES}}}  # fmt: skip
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(config))
    settings.MLSERVICE_DATA_SOURCES = str(path)
    return "typed"


def read(source: str, name: str, chunk_rows: int = 3) -> list[pd.DataFrame]:
    value = {"source": source, "name": name, "params": {}}
    return list(query_read(value, field="data.query", chunk_rows=chunk_rows, max_rows=100))


def text_read(database: str, sql: str, chunk_rows: int) -> list[pd.DataFrame]:
    """What the source read before: psycopg's text rows, each chunk made a frame by pandas' records."""
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}") as conn:
        cursor = conn.execute(sql)
        columns = [column.name for column in cursor.description or []]
        rows = cursor.fetchall()
    return [
        pd.DataFrame.from_records(rows[start : start + chunk_rows], columns=columns, coerce_float=True)
        for start in range(0, len(rows), chunk_rows)
    ]


def same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return (math.isnan(left) and math.isnan(right)) or (
            left == right and math.copysign(1, left) == math.copysign(1, right)
        )
    return type(left) is type(right) and left == right


@pytest.mark.parametrize("chunk_rows", [1, 3])
@pytest.mark.parametrize("name", list(QUERIES))
def test_each_chunk_has_the_values_and_types_that_text_rows_gave(typed_source, typed_warehouse, name, chunk_rows):
    chunks = read(typed_source, name, chunk_rows)

    expected = text_read(typed_warehouse, QUERIES[name], chunk_rows)
    assert len(chunks) == len(expected)
    for frame, wanted in zip(chunks, expected, strict=True):
        assert list(frame.columns) == list(wanted.columns)
        assert list(frame.dtypes) == list(wanted.dtypes)  # a column NULL throughout a chunk stays object
        for column in frame.columns:
            pairs = zip(frame[column].tolist(), wanted[column].tolist(), strict=True)
            assert all(same(left, right) for left, right in pairs), column


def test_numbers_come_in_binary_and_a_real_column_as_text(typed_source):
    frame = pd.concat(read(typed_source, "everything"), ignore_index=True)

    assert frame.loc[0, "f4"] == 0.1  # in binary a real widens to 0.10000000149011612
    assert frame.loc[0, "f8b"] == 0.30000000000000004
    with data_sources()[typed_source].engine.connect() as connection:  # type: ignore[attr-defined]
        cursor = connection.connection.dbapi_connection.cursor("probe")
        cursor.execute(NUMBERS)
        cursor.fetchone()
        assert {column.type_code for column in cursor.description} <= SAME_VALUE_IN_BINARY
        assert cursor.pgresult.fformat(0) == psycopg.pq.Format.BINARY
        cursor.execute("SELECT f8a, f4 FROM typed")
        cursor.fetchone()
        assert cursor.pgresult.fformat(0) == psycopg.pq.Format.TEXT
        cursor.close()
