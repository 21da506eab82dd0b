"""``manage.py train --spec spec.json``: the body of POST /train, from a file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mlservice.exceptions import ApplicationError
from models_api.serializers import TrainInput
from models_api.services import TrainingSpec, model_train


class Command(BaseCommand):
    help = "Train and register a model from a JSON spec (the body of POST /train); prints the result as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--spec", required=True, help="Path to the JSON spec, or - for standard input.")

    def handle(self, *args: Any, spec: str, **options: Any) -> None:
        payload = self._read_spec(spec)
        data = TrainInput(data=payload)
        if not data.is_valid():
            raise CommandError(f"Invalid spec: {json.dumps(data.errors)}")
        try:
            body = model_train(spec=TrainingSpec(**data.validated_data))
        except ApplicationError as exc:
            suffix = f" (run {exc.run_name})" if exc.run_name else ""
            raise CommandError(f"{exc.code}: {exc.message}{suffix}") from exc
        self.stdout.write(json.dumps(body, indent=2))

    def _read_spec(self, spec: str) -> Any:
        try:
            text = sys.stdin.read() if spec == "-" else Path(spec).read_text()
            return json.loads(text)
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"Cannot read the spec {spec}: {exc}") from exc
