"""Storage failures, whatever the backend: local files (OSError) or S3 (botocore and friends)."""

from __future__ import annotations

from contextlib import AbstractContextManager

from core.exceptions import dependency_errors


def storage_failure(exc: BaseException) -> bool:
    """Return whether ``exc`` means the storage could not be reached or refused the operation."""
    module = type(exc).__module__
    return isinstance(exc, OSError) or module.startswith(("botocore", "boto3", "urllib3", "s3transfer"))


def storage_errors(action: str) -> AbstractContextManager[None]:
    """Turn a storage failure during ``action`` into DependencyUnavailable (503)."""
    return dependency_errors("storage", action, is_down=storage_failure)
