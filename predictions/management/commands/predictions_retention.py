"""``manage.py predictions_retention``: partitions ahead, then MLSERVICE_PREDICTION_RETENTION_DAYS applied."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from core.exceptions import ApplicationError
from predictions.partitions import StoreMaintained, predictions_maintain


class Command(BaseCommand):
    help = (
        "Maintain the prediction store, as the hourly scheduled task does. PostgreSQL: create the partitions "
        "of the current interval and MLSERVICE_PREDICTION_PARTITIONS_AHEAD after it, move rows out of the "
        "default partition, and drop each partition older than MLSERVICE_PREDICTION_RETENTION_DAYS (archived "
        "to Parquet first with MLSERVICE_PREDICTION_ARCHIVE). SQLite: delete the older rows. One line per change."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Say what would be done; change nothing.")

    def handle(self, *args: Any, dry_run: bool, **options: Any) -> None:
        try:
            done = predictions_maintain(dry_run=dry_run)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        except DatabaseError as exc:
            raise CommandError(f"the database refused a change (nothing after it was done): {exc}") from exc
        for line in maintenance_lines(done):
            self.stdout.write(line)


def maintenance_lines(done: StoreMaintained) -> list[str]:
    """Return what a maintenance run did (or would do, on a dry run), one line per change and a summary."""
    would = "would be " if done.dry_run else ""
    lines = [f"partition {name} {would}created" for name in done.partitions.created]
    if done.partitions.moved_rows:
        lines.append(f"{_count(done.partitions.moved_rows, 'row')} {would}moved out of the default partition")
    retention = done.retention
    for retired in retention.dropped:
        if retired.archive:
            lines.append(
                f"partition {retired.name} {would}archived to {retired.archive} ({_count(retired.rows, 'row')})"
            )
        lines.append(f"partition {retired.name} {would}dropped ({_count(retired.rows, 'row')})")
    if retention.days is None:
        lines.append("retention: none (MLSERVICE_PREDICTION_RETENTION_DAYS is 0): every prediction is kept.")
        return lines
    cutoff = f"{retention.days} days, before {retention.cutoff:%Y-%m-%d %H:%M} UTC"
    if retention.dropped:
        partitions = _count(len(retention.dropped), "partition")
        rows = _count(sum(retired.rows for retired in retention.dropped), "row")
        lines.append(f"retention {cutoff}: {partitions}, {rows} {would}dropped.")
    elif retention.deleted_rows:
        lines.append(f"retention {cutoff}: {_count(retention.deleted_rows, 'row')} {would}deleted.")
    else:
        lines.append(f"retention {cutoff}: nothing older.")
    return lines


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
