"""Request body parsers beyond DRF's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser


class ORJSONParser(BaseParser):
    """Parse a JSON body with orjson, in one pass from the bytes (DRF's JSONParser decodes, then parses).

    Like DRF's strict parser, NaN and Infinity are not JSON and are refused; errors are a ParseError (400).
    """

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding", "utf-8")
        body = stream.read()
        try:
            if encoding.lower().replace("-", "") != "utf8":
                body = body.decode(encoding)
            return orjson.loads(body)
        except (UnicodeDecodeError, LookupError, orjson.JSONDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


class CSVTextParser(BaseParser):
    """Accept a ``text/csv`` body and hand it on as text (MLflow's scoring server takes CSV too)."""

    media_type = "text/csv"

    def parse(  # type: ignore[override]  # DRF's stubs expect a mapping; this body is text
        self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> str:
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            return stream.read().decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"CSV body is not valid {encoding}: {exc}") from exc
