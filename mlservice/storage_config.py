"""STORAGES entries for S3 (django-storages), shared by settings.py and the tests."""

from __future__ import annotations

from typing import Any

DRIFT_SAMPLES_PREFIX = "drift-samples"
DATASETS_PREFIX = "datasets"


def s3_client_config() -> Any:
    """Return a botocore config that fails within seconds when the S3 server is unreachable."""
    from botocore.config import Config

    return Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2, "mode": "standard"})


def s3_storages(
    *,
    bucket: str,
    endpoint_url: str | None,
    access_key: str | None,
    secret_key: str | None,
    region: str = "us-east-1",
    addressing_style: str = "path",
    drift_samples_prefix: str = DRIFT_SAMPLES_PREFIX,
    datasets_prefix: str = DATASETS_PREFIX,
) -> dict[str, dict[str, Any]]:
    """Return the "drift_samples" and "datasets" storages in one bucket under two prefixes."""
    options = {
        "bucket_name": bucket,
        "endpoint_url": endpoint_url,
        # Unset keys let boto3 fall back to the instance role.
        "access_key": access_key,
        "secret_key": secret_key,
        "region_name": region,
        "addressing_style": addressing_style,
        "signature_version": "s3v4",
        "file_overwrite": False,
        "client_config": s3_client_config(),
    }
    backend = "storages.backends.s3.S3Storage"
    return {
        "drift_samples": {"BACKEND": backend, "OPTIONS": {**options, "location": drift_samples_prefix}},
        "datasets": {"BACKEND": backend, "OPTIONS": {**options, "location": datasets_prefix}},
    }
