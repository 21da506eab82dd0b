"""Names the API contract fixes: run names, registered model names and their version numbers."""

from __future__ import annotations

import re
from datetime import UTC, datetime

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
MODEL_NAME_MESSAGE = "must be 1 to 100 letters, digits, '_', '.' or '-', starting with a letter or digit."
# MLflow numbers a registered model's versions 1, 2, 3...: never 0, never a leading zero.
MODEL_VERSION_PATTERN = r"^[1-9][0-9]{0,9}$"
# MLflow refuses "latest" and "v<number>" as aliases (they name versions).
ALIAS_PATTERN = r"^(?!latest$)(?!v\d+$)[A-Za-z_][A-Za-z0-9_-]{0,254}$"
MODEL_NAME_RE = re.compile(MODEL_NAME_PATTERN)


def utc_stamp(moment: datetime | None = None) -> str:
    """Return the UTC ``YYYYmmddTHHMMSS.ffffffZ`` stamp run names end with."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def run_name_make(prefix: str, moment: datetime | None = None) -> str:
    """Return ``{prefix}_{datetime}``, e.g. ``train_20261126T140629.123456Z``."""
    return f"{prefix}_{utc_stamp(moment)}"
