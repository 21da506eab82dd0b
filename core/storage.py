"""Storage failures, whatever the backend: local files (OSError) or S3 (botocore and friends)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from core.exceptions import DependencyUnavailable


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
