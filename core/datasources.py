"""Named data sources: operators configure them, API callers name a query and give its parameters.

``MLSERVICE_DATA_SOURCES`` is the path of a JSON or YAML file::

    sources:
      warehouse:                       # a SQL source (SQLAlchemy URL; ${ENV_VAR} is read from the environment)
        url: postgresql+psycopg://reader:${WAREHOUSE_PASSWORD}@db.internal/warehouse
        description: Loans, one row per loan
        queries:
          loans_between: SELECT * FROM loans WHERE id BETWEEN :lo AND :hi
      crm:                             # a project's own source: a DataSource subclass by dotted path
        class: myproject.sources.CrmSource
        options: {token: "${CRM_TOKEN}"}
        queries:
          accounts_since: {description: "Accounts changed since a date", params: [since]}

A dataset value ``{"query": {"source": "warehouse", "name": "loans_between", "params": {"lo": 0,
"hi": 999}}}`` reads the rows of that query (core.datasets). Callers never send SQL: only the
named queries run, and parameters are bound by the driver, never spliced into the text. An unknown
source, query or parameter (or a missing one) is a 400 naming it; a source that doesn't answer is a
503 naming it; more rows than the limit is a 413.

A project's own source implements :class:`DataSource` (``queries`` and ``read``); the SQL source
is one implementation of it.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from core.exceptions import ApplicationError, DependencyUnavailable, InvalidInput, PayloadTooLarge

logger = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# JSON scalars only: a list or an object has no single meaning as one bound SQL parameter.
PARAMETER_TYPES = (str, int, float, bool, type(None))
MAX_PARAMETER_LENGTH = 10_000
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE when statement_timeout stops a query


class SourceUnavailable(Exception):
    """Raised by a DataSource when its system doesn't answer (connection refused, timed out, gone)."""


class ParameterRefused(Exception):
    """Raised by a DataSource when its system refuses a parameter's value (a 400 naming the parameters)."""


class QueryFailed(ApplicationError):
    """The source answered but refused a configured query for a reason other than the caller's values."""

    status_code, code = 500, "data_source_query_failed"


@dataclass(frozen=True)
class QueryInfo:
    """A named query as callers see it: its name, description and parameter names (never its text)."""

    name: str
    parameters: list[str]
    description: str = ""


@dataclass(frozen=True)
class SourceInfo:
    """A configured source as callers see it (GET /data-sources/): never its URL or secrets."""

    name: str
    description: str
    queries: list[QueryInfo]


class DataSource(ABC):
    """A place a project's data is read from by named queries: the seam for a project's own source.

    A subclass is named in the sources file under ``class`` (a dotted path) and built once per
    file version with its name and its entry of the file, ``${ENV_VAR}`` references already
    replaced (``queries`` and ``description`` excepted). The service validates what callers send
    (the source, the query name, exactly the declared parameters, JSON scalars) before ``read``
    is called, counts the rows against the limit, and turns :class:`SourceUnavailable` into a 503
    and :class:`ParameterRefused` into a 400 naming the parameters.
    """

    def __init__(self, *, name: str, config: Mapping[str, Any]) -> None:
        self.name = name
        self.config = config

    @property
    def description(self) -> str:
        return str(self.config.get("description", ""))

    @abstractmethod
    def queries(self) -> dict[str, QueryInfo]:
        """Return the named queries this source answers, by name."""

    @abstractmethod
    def read(self, *, query: str, params: dict[str, Any], chunk_rows: int) -> Iterator[pd.DataFrame]:
        """Yield the rows of ``query`` run with ``params`` as DataFrames of at most ``chunk_rows`` rows.

        Raise SourceUnavailable when the system doesn't answer, ParameterRefused when it refuses a
        parameter's value. The caller may stop iterating early (the row limit):
        release connections in a ``finally``.
        """

    def close(self) -> None:  # noqa: B027 (an optional hook: most sources hold nothing)
        """Release what the source holds (called when the file changes)."""


# --- The SQL source -------------------------------------------------------------------------------


class SQLSource(DataSource):
    """Named queries on a SQLAlchemy URL, read-only where the engine allows, parameters bound.

    PostgreSQL: every transaction is READ ONLY (psycopg's read-only session option), and connect
    and statement timeouts apply (a query stopped by the latter is a 503: the source didn't
    answer). SQLite: the file is opened with ``mode=ro`` and ``PRAGMA query_only``. Elsewhere the
    URL's account should be a read-only one (it should be everywhere).
    """

    def __init__(self, *, name: str, config: Mapping[str, Any]) -> None:
        super().__init__(name=name, config=config)
        from sqlalchemy import create_engine, event, text
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError
        from sqlalchemy.pool import NullPool

        raw_url = config.get("url")
        if not isinstance(raw_url, str) or not raw_url:
            raise ImproperlyConfigured(f"data source {name!r}: 'url' (a SQLAlchemy URL) is required.")
        try:
            url = make_url(raw_url)
        except ArgumentError as exc:
            # Never echo the URL: it may hold a password.
            raise ImproperlyConfigured(f"data source {name!r}: 'url' is not a SQLAlchemy URL.") from exc
        url, connect_args = _read_only_url(url)
        self._queries = _sql_queries(name, config.get("queries"), text=text)
        # No pool: a connection per read, so a forked worker never shares one with its parent.
        self.engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_query_only)
        elif self.dialect == "postgresql":
            event.listen(self.engine, "connect", _postgresql_binary_reads)

    def queries(self) -> dict[str, QueryInfo]:
        return {name: info for name, (info, _) in self._queries.items()}

    def read(self, *, query: str, params: dict[str, Any], chunk_rows: int) -> Iterator[pd.DataFrame]:
        from sqlalchemy import exc as sa_exc

        _, statement = self._queries[query]
        try:
            connection = self.engine.connect()
        except sa_exc.DBAPIError as exc:
            # The driver's message names hosts and ports: logged for operators, not returned to callers.
            logger.warning("data source %s: connect failed: %s", self.name, exc)
            raise SourceUnavailable(f"could not connect ({type(exc.orig).__name__})") from exc
        try:
            options: dict[str, Any] = {"stream_results": True, "max_row_buffer": chunk_rows}
            if self.dialect == "postgresql":
                options["postgresql_readonly"] = True
            connection = connection.execution_options(**options)
            try:
                if self.dialect == "postgresql":
                    yield from self._psycopg_chunks(connection, statement, params, chunk_rows=chunk_rows)
                    return
                result = connection.execute(statement, params)
                columns = list(result.keys())
                while rows := result.fetchmany(chunk_rows):
                    # Plain tuples: pandas probing SQLAlchemy's Row objects row by row took 70% of the read.
                    yield rows_frame([tuple(row) for row in rows], columns)
            except sa_exc.DBAPIError as exc:
                raise self._query_error(query, exc) from exc
        finally:
            connection.close()

    def _psycopg_chunks(self, connection: Any, statement: Any, params: dict[str, Any], *, chunk_rows: int
                        ) -> Iterator[pd.DataFrame]:  # fmt: skip
        """Yield the rows of psycopg's own server-side cursor, in the transaction SQLAlchemy set up (read-only).

        SQLAlchemy compiles the statement (parameters still bound by the driver) and turns the
        driver's errors into its own; the rows come as psycopg's tuples, not one SQLAlchemy Row per
        row (half the read's CPU for 30 float8 columns), and all-float8 rows become one NumPy array.
        """
        import psycopg
        from sqlalchemy import exc as sa_exc

        compiled = statement.compile(dialect=self.engine.dialect)
        sql, bound = compiled.string, compiled.construct_params(params)
        dbapi_connection = connection.connection.dbapi_connection
        try:
            with dbapi_connection.cursor(name=f"mlservice_{uuid.uuid4().hex}") as cursor:
                cursor.execute(sql, bound)
                description = cursor.description or []
                columns = [column.name for column in description]
                doubles = bool(description) and all(column.type_code == FLOAT8 for column in description)
                while rows := cursor.fetchmany(chunk_rows):
                    yield rows_frame(rows, columns, doubles=doubles)
        except psycopg.Error as exc:
            driver_error: Any = exc
            lost = self.engine.dialect.is_disconnect(driver_error, dbapi_connection, None)
            raise sa_exc.DBAPIError.instance(sql, bound, exc, psycopg.Error, connection_invalidated=lost,
                                             dialect=self.engine.dialect) from exc  # fmt: skip

    def _query_error(self, query: str, exc: Any) -> Exception:
        from sqlalchemy import exc as sa_exc

        if exc.connection_invalidated:
            logger.warning("data source %s: connection lost during %s: %s", self.name, query, exc)
            return SourceUnavailable(f"the connection was lost ({type(exc.orig).__name__})")
        if getattr(exc.orig, "sqlstate", None) == QUERY_CANCELED:
            return SourceUnavailable(
                f"query {query!r} did not finish within {settings.MLSERVICE_DATA_SOURCE_STATEMENT_TIMEOUT_S:g} s"
            )
        if isinstance(exc, sa_exc.DataError):
            # The database refused a value the caller sent (e.g. text where the query compares a number).
            return ParameterRefused(_first_line(exc.orig))
        logger.error("data source %s: query %s failed: %s", self.name, query, exc)
        return QueryFailed(
            f"data source {self.name!r}: query {query!r} failed; the operator's logs have the database's error.",
            details={"source": self.name, "query": query},
        )

    def close(self) -> None:
        self.engine.dispose()


def _read_only_url(url: Any) -> tuple[Any, dict[str, Any]]:
    """Return the URL (driver chosen, read-only where the URL can say so) and the driver's connect args."""
    timeout = settings.MLSERVICE_DATA_SOURCE_CONNECT_TIMEOUT_S
    backend = url.get_backend_name()
    if backend in ("postgres", "postgresql"):
        if url.drivername in ("postgres", "postgresql"):
            url = url.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver this service ships
        statement_ms = round(settings.MLSERVICE_DATA_SOURCE_STATEMENT_TIMEOUT_S * 1000)
        options = f"-c default_transaction_read_only=on -c statement_timeout={statement_ms}"
        return url, {"connect_timeout": max(1, round(timeout)), "options": options}
    if backend == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            url = url.set(database=f"file:{database}", query={**url.query, "mode": "ro", "uri": "true"})
        return url, {"timeout": timeout}
    return url, {}


FLOAT8 = 701  # PostgreSQL's double precision


def rows_frame(rows: list[Any], columns: list[str], *, doubles: bool = False) -> pd.DataFrame:
    """Return a chunk of rows (tuples) as a DataFrame; ``doubles``: every column is float8 (None is NULL).

    All-float rows go through one NumPy array (a third of the time of pandas' records), unless a
    column is NULL throughout the chunk: that column stays an object column of None, as pandas
    makes it.
    """
    if doubles:
        values = np.array(rows, dtype=np.float64)
        if not np.isnan(values).all(axis=0).any():
            return pd.DataFrame(values, columns=columns)
    return pd.DataFrame.from_records(rows, columns=columns, coerce_float=True)


# PostgreSQL types whose binary form psycopg loads to the same Python value as their text form:
# bool, int8, int2, int4, text, float8, varchar, numeric. Not float4 (its binary value widens to
# 0.10000000149011612 where the text reads 0.1), nor dates and times, enums or unknown types.
SAME_VALUE_IN_BINARY = frozenset({16, 20, 21, 23, 25, 701, 1043, 1700})


def _postgresql_binary_reads(dbapi_connection: Any, connection_record: Any) -> None:
    """Make the connection's server-side cursors fetch in binary where it yields the same values."""
    import psycopg

    if isinstance(dbapi_connection, psycopg.Connection):
        dbapi_connection.server_cursor_factory = _binary_where_same_cursor()


@functools.cache
def _binary_where_same_cursor() -> type:
    import psycopg

    class BinaryWhereSameCursor(psycopg.ServerCursor):  # type: ignore[type-arg]
        """A server-side cursor that fetches in binary when every column of the result loads the same.

        Numbers in binary are neither printed by the server nor parsed here: a million rows of 30
        float8 columns took 9 s of this process's CPU and 3.5 s of the server's in text, 4 s and
        2.3 s in binary. A result with another type is declared again and fetched as text.
        """

        def execute(self, query: Any, params: Any = None, *, binary: bool | None = None, **kwargs: Any) -> Any:
            if binary is None:
                super().execute(query, params, binary=True, **kwargs)
                if all(column.type_code in SAME_VALUE_IN_BINARY for column in self.description or ()):
                    return self
                binary = False
            return super().execute(query, params, binary=binary, **kwargs)

    return BinaryWhereSameCursor


def _sqlite_query_only(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only = ON")
    cursor.close()


def _sql_queries(source: str, raw: Any, *, text: Any) -> dict[str, tuple[QueryInfo, Any]]:
    """Return each named query's public info and its compiled text() clause."""
    if not isinstance(raw, Mapping) or not raw:
        raise ImproperlyConfigured(f"data source {source!r}: 'queries' must map query names to SQL.")
    queries = {}
    for name, entry in raw.items():
        _check_name(name, f"data source {source!r}: query name")
        sql, description = (entry, "") if isinstance(entry, str) else (_get(entry, "sql"), _get(entry, "description"))
        if not isinstance(sql, str) or not sql.strip():
            raise ImproperlyConfigured(f"data source {source!r}: query {name!r} needs its SQL (a string or 'sql').")
        statement = text(sql)
        # SQLAlchemy's own parse of ":name" (it knows "::type" casts and "\:" escapes).
        parameters = list(statement.compile().params)
        queries[name] = (QueryInfo(name=name, parameters=parameters, description=str(description or "")), statement)
    return queries


def _get(entry: Any, key: str) -> Any:
    return entry.get(key) if isinstance(entry, Mapping) else None


# --- The configured set ---------------------------------------------------------------------------


class _Registry:
    """The sources of the configured file, rebuilt when the path or the file's mtime changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, int] | None = None
        self._sources: dict[str, DataSource] = {}

    def sources(self) -> dict[str, DataSource]:
        path = settings.MLSERVICE_DATA_SOURCES
        if not path:
            return {}
        try:
            key = (str(path), Path(path).stat().st_mtime_ns)
        except OSError as exc:
            raise ImproperlyConfigured(f"MLSERVICE_DATA_SOURCES: cannot read {path}: {exc.strerror}") from exc
        with self._lock:
            if key != self._key:
                built = _sources_build(_file_read(Path(path)), path=str(path))
                for source in self._sources.values():
                    source.close()
                self._key, self._sources = key, built
            return self._sources


_registry = _Registry()


def data_sources() -> dict[str, DataSource]:
    """Return the configured sources by name (none when MLSERVICE_DATA_SOURCES is unset)."""
    return _registry.sources()


def data_sources_describe() -> list[SourceInfo]:
    """Return every configured source with its queries and their parameters: names only, never URLs."""
    return [
        SourceInfo(
            name=name,
            description=source.description,
            queries=sorted(source.queries().values(), key=lambda query: query.name),
        )
        for name, source in sorted(data_sources().items())
    ]


def _file_read(path: Path) -> dict[str, Any]:
    import json

    import yaml

    content = path.read_text()
    try:
        data = json.loads(content) if path.suffix.lower() == ".json" else yaml.safe_load(content)
    except (ValueError, yaml.YAMLError) as exc:
        raise ImproperlyConfigured(f"MLSERVICE_DATA_SOURCES: {path} is not valid JSON/YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("sources"), dict):
        raise ImproperlyConfigured(f"MLSERVICE_DATA_SOURCES: {path} must hold {{'sources': {{name: {{...}}}}}}.")
    return data


def _sources_build(data: dict[str, Any], *, path: str) -> dict[str, DataSource]:
    sources: dict[str, DataSource] = {}
    for name, entry in data["sources"].items():
        _check_name(name, f"{path}: source name")
        if not isinstance(entry, dict):
            raise ImproperlyConfigured(f"{path}: source {name!r} must be an object.")
        config = {
            key: value if key in ("queries", "description") else _expand_env(value, f"source {name!r}")
            for key, value in entry.items()
        }
        cls: Any = SQLSource
        if "class" in config:
            try:
                cls = import_string(config["class"])
            except ImportError as exc:
                raise ImproperlyConfigured(f"{path}: source {name!r}: cannot import {config['class']!r}.") from exc
            if not (isinstance(cls, type) and issubclass(cls, DataSource)):
                raise ImproperlyConfigured(f"{path}: source {name!r}: {config['class']!r} is not a DataSource.")
        sources[name] = cls(name=name, config=config)
    return sources


def _expand_env(value: Any, where: str) -> Any:
    """Return ``value`` with every ``${NAME}`` replaced by the environment's NAME (strings, nested)."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            variable = match.group(1)
            if variable not in os.environ:
                raise ImproperlyConfigured(f"{where}: environment variable {variable} is not set.")
            return os.environ[variable]

        return ENV_REFERENCE.sub(replace, value)
    if isinstance(value, dict):
        return {key: _expand_env(item, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand_env(item, where) for item in value]
    return value


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ImproperlyConfigured(f"{what} {name!r} must be letters, digits, _ . or - (up to 100).")


def _first_line(exc: Any) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- Reading a query dataset value ----------------------------------------------------------------


def query_read(value: Any, *, field: str, chunk_rows: int, max_rows: int) -> Iterator[pd.DataFrame]:
    """Yield the rows of a ``{"source", "name", "params"}`` value in chunks, validated and limited.

    400 naming the field for an unknown source, query or parameter, a missing parameter or a
    non-scalar value; 413 once more than ``max_rows`` rows have come; 503 naming the source when
    it doesn't answer. Validation happens before the first chunk is asked for.
    """
    source, query, params = query_resolve(value, field=field)
    return _limited(source, query, params, field=field, chunk_rows=chunk_rows, max_rows=max_rows)


def query_resolve(value: Any, *, field: str) -> tuple[DataSource, str, dict[str, Any]]:
    """Return (source, query name, parameters) of a query value, or raise a 400 naming the field."""
    if not isinstance(value, dict):
        raise InvalidInput.for_field(field, 'must be {"source": ..., "name": ..., "params": {...}}.')
    unknown = sorted(set(value) - {"source", "name", "params"})
    if unknown:
        raise InvalidInput.for_field(f"{field}.{unknown[0]}", "unknown key; use source, name and params.")
    sources = data_sources()
    source_name = value.get("source")
    if not isinstance(source_name, str) or source_name not in sources:
        known = ", ".join(sorted(sources)) or "none is configured"
        raise InvalidInput.for_field(f"{field}.source", f"unknown data source {source_name!r} (known: {known}).")
    source = sources[source_name]
    queries = source.queries()
    query_name = value.get("name")
    if not isinstance(query_name, str) or query_name not in queries:
        raise InvalidInput.for_field(
            f"{field}.name",
            f"unknown query {query_name!r} of data source {source_name!r} (known: {', '.join(sorted(queries))}).",
        )
    params = value.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidInput.for_field(f"{field}.params", "must be an object of parameter: value.")
    declared = queries[query_name].parameters
    for name in params:
        if name not in declared:
            raise InvalidInput.for_field(
                f"{field}.params.{name}",
                f"query {query_name!r} has no parameter {name!r} (it takes: {', '.join(declared) or 'none'}).",
            )
    for name in declared:
        if name not in params:
            raise InvalidInput.for_field(f"{field}.params.{name}", f"query {query_name!r} needs this parameter.")
        item = params[name]
        if not isinstance(item, PARAMETER_TYPES):
            raise InvalidInput.for_field(f"{field}.params.{name}", "must be a string, number, boolean or null.")
        if isinstance(item, str) and len(item) > MAX_PARAMETER_LENGTH:
            raise InvalidInput.for_field(f"{field}.params.{name}", f"at most {MAX_PARAMETER_LENGTH} characters.")
    return source, query_name, dict(params)


def _limited(
    source: DataSource, query: str, params: dict[str, Any], *, field: str, chunk_rows: int, max_rows: int
) -> Iterator[pd.DataFrame]:
    rows = 0
    chunks = source.read(query=query, params=params, chunk_rows=chunk_rows)
    try:
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except SourceUnavailable as exc:
                raise DependencyUnavailable(f"data source {source.name!r}", str(exc)) from exc
            except ParameterRefused as exc:
                reason = f"data source {source.name!r} refused the parameters: {exc}"
                raise InvalidInput.for_field(f"{field}.params", reason) from exc
            rows += len(chunk)
            if rows > max_rows:
                raise PayloadTooLarge(
                    f"{field}: query {query!r} of data source {source.name!r} returned more than {max_rows} rows.",
                    details={field: [f"at most {max_rows} rows"]},
                )
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
