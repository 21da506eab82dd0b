"""README stays current: every variable the settings read is documented, and it stands on its own."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV_READ = re.compile(r"""\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)\"""")


def test_every_variable_the_settings_read_is_in_the_configuration_table():
    variables = set(ENV_READ.findall((ROOT / "mlservice" / "settings.py").read_text()))
    configuration = (ROOT / "README.md").read_text().split("## Configuration", 1)[1]

    assert {"DATABASE_URL", "MLSERVICE_DRIFT_MIN_ROWS"} <= variables
    assert sorted(name for name in variables if f"`{name}`" not in configuration) == []


def test_readme_points_at_nothing_outside_the_repository():
    assert "../" not in (ROOT / "README.md").read_text()
