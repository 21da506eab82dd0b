"""Drift-sample storage: Parquet bytes in and out of the "drift_samples" storage."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
from django.core.files.base import ContentFile

from drift.models import drift_samples_storage
from mlservice.exceptions import DependencyUnavailable


def storage_failure(exc: BaseException) -> bool:
    """Return whether ``exc`` means the storage could not be reached or refused the operation."""
    module = type(exc).__module__
    return isinstance(exc, OSError) or module.startswith(("botocore", "boto3", "urllib3", "s3transfer"))


@contextmanager
def storage_errors(action: str) -> Iterator[None]:
    """Turn a storage failure during ``action`` into DependencyUnavailable (503)."""
    try:
        yield
    except DependencyUnavailable:
        raise
    except Exception as exc:
        if storage_failure(exc):
            raise DependencyUnavailable("storage", f"{action}: {exc}") from exc
        raise


def parquet_write(*, path: str, frame: pd.DataFrame) -> str:
    """Write ``frame`` as Parquet at ``path`` and return the name the storage chose."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    with storage_errors("writing the drift sample"):
        return drift_samples_storage().save(path, ContentFile(buffer.getvalue()))


def parquet_read(path: str) -> pd.DataFrame:
    """Read a Parquet drift sample back."""
    with storage_errors("reading the drift sample"), drift_samples_storage().open(path, "rb") as handle:
        content = handle.read()
    return pd.read_parquet(io.BytesIO(content))


def file_delete(path: str) -> None:
    with storage_errors("deleting the drift sample"):
        drift_samples_storage().delete(path)


def storage_ping() -> None:
    """Raise DependencyUnavailable unless the drift-samples storage answers."""
    with storage_errors("checking the drift-samples storage"):
        drift_samples_storage().exists("health-check")
