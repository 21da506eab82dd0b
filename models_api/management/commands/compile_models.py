"""``manage.py compile_models``: give registered versions their compiled fast path (ONNX), verified."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.exceptions import ApplicationError
from models_api.compiling import model_versions_compile


class Command(BaseCommand):
    help = (
        "Compile registered versions to ONNX: convert each version's pipeline, verify it on the version's "
        "drift sample rows, log the graph with the version and tag it mlservice.fast_path (onnx or the "
        "reason it is served by scikit-learn). Versions already compiled are skipped. One line per version."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # --version selects a model version here, in place of Django's "print Django's version".
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", help="Only this registered model (default: every one).")
        parser.add_argument("--version", help="Only this version (needs --model).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Say which versions would be compiled; change nothing."
        )

    def handle(self, *args: Any, model: str | None, version: str | None, dry_run: bool, **options: Any) -> None:
        if version and not model:
            raise CommandError("--version needs --model.")
        counts: dict[str, int] = {}
        try:
            for outcome in model_versions_compile(model_name=model, version=version, dry_run=dry_run):
                self.stdout.write(outcome.line())
                counts[outcome.status] = counts.get(outcome.status, 0) + 1
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        summary = ", ".join(f"{count} {status}" for status, count in counts.items()) or "no versions"
        self.stdout.write(f"{summary}.")
