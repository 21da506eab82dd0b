"""Turn a dataset value of the API contract into a pandas DataFrame.

A dataset value is exactly one of ``dataframe_split``, ``dataframe_records``, ``uri`` (a CSV or
Parquet file in the "datasets" storage), ``builtin`` (a scikit-learn bundled dataset), ``query``
(a named query of a configured data source: core.datasources) or an uploaded CSV file. Used by
training, evaluation, drift checks and retraining alike (``dataset_load``), and by batch scoring
in bounded memory (``dataset_chunks``).
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.files.storage import storages
from django.core.files.uploadedfile import UploadedFile

from core.datasources import query_read, query_resolve
from core.exceptions import InvalidInput, PayloadTooLarge
from core.storage import storage_errors

DATASET_FORMS = ("dataframe_split", "dataframe_records", "uri", "builtin", "query")
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
# Rows fetched per round trip when a whole query is read into memory.
QUERY_CHUNK_ROWS = 10_000


def _load_builtin(name: str) -> pd.DataFrame:
    from sklearn import datasets as sk_datasets

    loaders: dict[str, Callable[..., Any]] = {
        "iris": sk_datasets.load_iris,
        "wine": sk_datasets.load_wine,
        "breast_cancer": sk_datasets.load_breast_cancer,
        "diabetes": sk_datasets.load_diabetes,
    }
    return loaders[name](as_frame=True).frame


BUILTIN_DATASETS = ("iris", "wine", "breast_cancer", "diabetes")


def dataset_load(value: Any, *, field: str = "data") -> pd.DataFrame:
    """Return the DataFrame a dataset value describes, or raise InvalidInput naming ``field``."""
    if isinstance(value, UploadedFile):
        frame = _parse_table(value.read(), name=value.name or "upload.csv", field=f"{field}.file")
    else:
        form = dataset_form(value, field=field)
        frame = _FORM_LOADERS[form](value[form], field=f"{field}.{form}")
    if frame.empty or len(frame.columns) == 0:
        raise InvalidInput.for_field(field, "the dataset has no rows.")
    if len(frame) > settings.MLSERVICE_MAX_TRAIN_ROWS:
        raise PayloadTooLarge(
            f"{field}: {len(frame)} rows is over the limit of {settings.MLSERVICE_MAX_TRAIN_ROWS}.",
            details={field: [f"at most {settings.MLSERVICE_MAX_TRAIN_ROWS} rows"]},
        )
    return frame_normalize(frame)


def dataset_form(value: Any, *, field: str) -> str:
    """Return the one form a dataset value has, or raise InvalidInput naming ``field``."""
    if not isinstance(value, dict):
        raise InvalidInput.for_field(field, f"must be an object with exactly one of {', '.join(DATASET_FORMS)}.")
    forms = [form for form in DATASET_FORMS if form in value]
    unknown = sorted(set(value) - set(DATASET_FORMS))
    if unknown:
        raise InvalidInput.for_field(
            f"{field}.{unknown[0]}", f"unknown dataset form; use one of {', '.join(DATASET_FORMS)}."
        )
    if len(forms) != 1:
        raise InvalidInput.for_field(field, f"must have exactly one of {', '.join(DATASET_FORMS)}.")
    return forms[0]


def dataset_check(value: Any, *, field: str = "data") -> None:
    """Refuse (400) a value that could not be read: its form, a builtin's name, a query's source, name
    and parameters, a uri's path and existence. What a job checks before it is queued; nothing is read."""
    form = dataset_form(value, field=field)
    where = f"{field}.{form}"
    if form == "builtin":
        _builtin_check(value[form], field=where)
    elif form == "query":
        query_resolve(value[form], field=where)
    elif form == "uri":
        uri = dataset_uri_validate(value[form], field=where)
        with storage_errors("reading the dataset"):
            if not storages["datasets"].exists(uri):
                raise InvalidInput.for_field(where, f"no file {uri!r} in the datasets storage.")


def dataset_chunks(value: Any, *, field: str = "data", chunk_rows: int, max_rows: int) -> Iterator[pd.DataFrame]:
    """Yield the rows of a dataset value as normalised DataFrames of at most ``chunk_rows`` rows.

    Memory stays bounded by the chunk for a query (a server-side cursor where the driver has one),
    a CSV or a Parquet file; inline and builtin values are small by nature and are sliced. The
    value is validated (400) before this returns; 413 once more than ``max_rows`` rows have come.
    """
    form = dataset_form(value, field=field)
    inner, where = value[form], f"{field}.{form}"
    if form == "query":
        chunks = query_read(inner, field=where, chunk_rows=chunk_rows, max_rows=max_rows)
    elif form == "uri":
        chunks = _uri_chunks(dataset_uri_validate(inner, field=where), field=where, chunk_rows=chunk_rows)
    else:
        frame = _FORM_LOADERS[form](inner, field=where)
        chunks = (frame.iloc[start : start + chunk_rows] for start in range(0, len(frame), chunk_rows))
    return _counted(chunks, field=field, max_rows=max_rows)


def _counted(chunks: Iterator[pd.DataFrame], *, field: str, max_rows: int) -> Iterator[pd.DataFrame]:
    rows = 0
    for chunk in chunks:
        rows += len(chunk)
        if rows > max_rows:
            raise PayloadTooLarge(f"{field}: more than {max_rows} rows.", details={field: [f"at most {max_rows} rows"]})
        if len(chunk):
            yield frame_normalize(chunk)


def _uri_chunks(uri: str, *, field: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Yield a CSV or Parquet file of the datasets storage in chunks, never whole."""
    import pyarrow
    import pyarrow.parquet as pq

    storage = storages["datasets"]
    with storage_errors("reading the dataset"):
        if not storage.exists(uri):
            raise InvalidInput.for_field(field, f"no file {uri!r} in the datasets storage.")
        handle = storage.open(uri, "rb")
    with handle:
        try:
            if uri.lower().endswith(PARQUET_SUFFIXES):
                for batch in pq.ParquetFile(handle).iter_batches(batch_size=chunk_rows):
                    yield batch.to_pandas()
            else:
                yield from pd.read_csv(handle, chunksize=chunk_rows)
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pyarrow.ArrowException) as exc:
            kind = "Parquet" if uri.lower().endswith(PARQUET_SUFFIXES) else "CSV"
            raise InvalidInput.for_field(field, f"could not parse {kind}: {exc}") from exc


def frame_normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the frame with string column names and NumPy-friendly missing values.

    Nullable extension dtypes (Int64, boolean, string with pd.NA) become float or object columns
    holding NaN, which scikit-learn's imputers understand.
    """
    frame = frame.copy()
    frame.columns = [str(column) for column in frame.columns]
    for column in frame.columns:
        series = frame[column]
        if getattr(series.dtype, "na_value", None) is pd.NA:
            if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
                frame[column] = series.astype("float64")
            else:
                frame[column] = series.astype(object).where(series.notna(), np.nan)
    return frame


def _load_split(value: Any, *, field: str) -> pd.DataFrame:
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("columns"), list)
        or not isinstance(value.get("data"), list)
    ):
        raise InvalidInput.for_field(field, 'must be {"columns": [...], "data": [[...], ...]}.')
    columns = value["columns"]
    if not all(isinstance(column, str) for column in columns) or len(set(columns)) != len(columns):
        raise InvalidInput.for_field(f"{field}.columns", "must be a list of distinct column names.")
    for index, row in enumerate(value["data"]):
        if not isinstance(row, list) or len(row) != len(columns):
            raise InvalidInput.for_field(f"{field}.data[{index}]", f"must be a list of {len(columns)} values.")
    return pd.DataFrame(value["data"], columns=columns)


def _load_records(value: Any, *, field: str) -> pd.DataFrame:
    if not isinstance(value, list):
        raise InvalidInput.for_field(field, "must be a list of objects.")
    for index, record in enumerate(value):
        if not isinstance(record, dict):
            raise InvalidInput.for_field(f"{field}[{index}]", "must be an object of column: value.")
    return pd.DataFrame.from_records(value)


def _load_builtin_form(value: Any, *, field: str) -> pd.DataFrame:
    _builtin_check(value, field=field)
    return _load_builtin(value)


def _builtin_check(value: Any, *, field: str) -> None:
    if not isinstance(value, str) or value not in BUILTIN_DATASETS:
        raise InvalidInput.for_field(
            field, f"unknown builtin dataset {value!r}; use one of {', '.join(BUILTIN_DATASETS)}."
        )


def dataset_uri_validate(uri: Any, *, field: str) -> str:
    """Return the uri normalised, refusing anything outside the datasets storage."""
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidInput.for_field(field, "must be a path in the datasets storage.")
    if "://" in uri or uri.startswith(("/", "\\", "~")) or ":" in uri.split("/")[0] or "\\" in uri:
        raise InvalidInput.for_field(
            field, "must be a relative path in the datasets storage; no schemes, hosts or absolute paths."
        )
    normalised = posixpath.normpath(uri)
    if normalised.startswith("..") or "/../" in f"/{uri}/":
        raise InvalidInput.for_field(field, "must not leave the datasets storage.")
    if not normalised.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES):
        raise InvalidInput.for_field(field, "must name a .csv or .parquet file.")
    return normalised


def _load_uri(value: Any, *, field: str) -> pd.DataFrame:
    uri = dataset_uri_validate(value, field=field)
    storage = storages["datasets"]
    with storage_errors("reading the dataset"):
        if not storage.exists(uri):
            raise InvalidInput.for_field(field, f"no file {uri!r} in the datasets storage.")
        with storage.open(uri, "rb") as handle:
            content = handle.read()
    return _parse_table(content, name=uri, field=field)


def _parse_table(content: bytes, *, name: str, field: str) -> pd.DataFrame:
    """Parse CSV or Parquet bytes, turning parser errors into a 400 naming ``field``."""
    import pyarrow

    try:
        if name.lower().endswith(PARQUET_SUFFIXES):
            return pd.read_parquet(io.BytesIO(content))
        return pd.read_csv(io.BytesIO(content))
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pyarrow.ArrowException) as exc:
        kind = "Parquet" if name.lower().endswith(PARQUET_SUFFIXES) else "CSV"
        raise InvalidInput.for_field(field, f"could not parse {kind}: {exc}") from exc


def _load_query(value: Any, *, field: str) -> pd.DataFrame:
    limit = settings.MLSERVICE_DATA_SOURCE_MAX_ROWS
    chunks = list(query_read(value, field=field, chunk_rows=QUERY_CHUNK_ROWS, max_rows=limit))
    if not chunks:
        return pd.DataFrame()
    # A chunk whose column held only NULLs is of object dtype: infer the column's type over all chunks.
    return pd.concat(chunks, ignore_index=True).infer_objects() if len(chunks) > 1 else chunks[0]


_FORM_LOADERS: dict[str, Callable[..., pd.DataFrame]] = {
    "dataframe_split": _load_split,
    "dataframe_records": _load_records,
    "uri": _load_uri,
    "builtin": _load_builtin_form,
    "query": _load_query,
}
