"""``manage.py train --spec spec.json``: the body of POST /train, from a file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.exceptions import ApplicationError
from models_api.jobs import job_enqueue_training
from models_api.serializers import JobOutput, TrainInput, TrainOutput
from models_api.services import TrainingSpec, model_train


class Command(BaseCommand):
    help = "Train and register a model from a JSON spec (the body of POST /train); prints the result as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--spec", required=True, help="Path to the JSON spec, or - for standard input.")
        parser.add_argument(
            "--async", action="store_true", dest="run_async", help="Queue it as a job on a worker; print the job."
        )

    def handle(self, *args: Any, spec: str, run_async: bool, **options: Any) -> None:
        payload = self._read_spec(spec)
        data = TrainInput(data=payload)
        if not data.is_valid():
            raise CommandError(f"Invalid spec: {json.dumps(data.errors)}")
        fields = {key: value for key, value in data.validated_data.items() if key != "async"}
        try:
            if run_async or data.validated_data["async"]:
                body = dict(JobOutput(job_enqueue_training(payload=fields)).data)
            else:
                body = dict(TrainOutput(model_train(spec=TrainingSpec(**fields))).data)
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
