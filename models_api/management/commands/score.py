"""``manage.py score``: batch scoring from the command line, in this process, with a progress bar."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from core.exceptions import ApplicationError
from models_api.batch import batch_score, batch_score_prepare
from models_api.serializers import BatchResultOutput


class Command(BaseCommand):
    help = (
        "Predict every row of a dataset with one model version and store them all under one request id, "
        "a chunk at a time (what POST /inference/batch does on a worker). Prints the result as JSON."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # --version selects a model version here, in place of Django's "print Django's version".
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", required=True, help="Registered model name.")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--version", help="Model version (default: alias production, else the latest).")
        which.add_argument("--alias", help="Model alias.")
        data = parser.add_mutually_exclusive_group(required=True)
        data.add_argument("--data", help='A dataset value as JSON, e.g. \'{"uri": "2026/rows.parquet"}\'.')
        data.add_argument("--uri", help="A CSV or Parquet file in the datasets storage.")
        data.add_argument("--source", help="A configured data source, with --query and its --param values.")
        parser.add_argument("--query", help="A named query of --source.")
        parser.add_argument(
            "--param", action="append", default=[], metavar="NAME=VALUE",
            help="A parameter of the query (repeatable); the value is read as JSON when it parses, else as text.",
        )  # fmt: skip

    def handle(self, *args: Any, model: str, version: str | None, alias: str | None, data: str | None,
               uri: str | None, source: str | None, query: str | None, param: list[str], **options: Any,
               ) -> None:  # fmt: skip
        value = _dataset_value(data=data, uri=uri, source=source, query=query, params=param)
        try:
            payload = batch_score_prepare(model_name=model, model_version=version, alias=alias, data=value)
            with tqdm(desc=f"scoring {model} v{payload['model_version']}", unit="row", unit_scale=True,
                      file=self.stderr, disable=None) as progress:  # fmt: skip

                def advance(rows: int) -> None:
                    progress.update(rows - progress.n)

                result = batch_score(
                    model_name=payload["model_name"],
                    model_version=payload["model_version"],
                    data=payload["data"],
                    request_id=uuid.UUID(payload["request_id"]),
                    progress=advance,
                )
        except ApplicationError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(json.dumps(BatchResultOutput(result).data))


def _dataset_value(
    *, data: str | None, uri: str | None, source: str | None, query: str | None, params: list[str]
) -> Any:
    if (query or params) and not source:
        raise CommandError("--query and --param go with --source.")
    if uri:
        return {"uri": uri}
    if source:
        if not query:
            raise CommandError("--source needs --query (the name of one of its queries).")
        return {"query": {"source": source, "name": query, "params": dict(_param(item) for item in params)}}
    try:
        return json.loads(data or "")
    except ValueError as exc:
        raise CommandError(f"--data is not JSON: {exc}") from exc


def _param(item: str) -> tuple[str, Any]:
    name, sep, text = item.partition("=")
    if not sep or not name:
        raise CommandError(f"--param {item!r}: use NAME=VALUE.")
    try:
        return name, json.loads(text)
    except ValueError:
        return name, text
