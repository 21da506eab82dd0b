"""Django set up for a benchmark that calls the service's code in-process: offline, in a scratch var/."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    """Load the service's settings with a scratch var/ directory and every telemetry off."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="mlservice.settings",
        MLSERVICE_VAR_DIR=tempfile.mkdtemp(prefix="mlservice-bench-"),
        MLFLOW_ENABLE_TELEMETRY="false",
        DO_NOT_TRACK="1",
        NML_DISABLE_USAGE_LOGGING="1",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
