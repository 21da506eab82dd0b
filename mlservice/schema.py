"""OpenAPI post-processing: document the one error shape on every operation."""

from __future__ import annotations

from typing import Any

# What any authenticated endpoint can answer besides its success, all in the one error shape.
COMMON_ERRORS = {
    "400": "Invalid input, naming the field and the reason.",
    "401": "Missing or invalid token.",
    "403": "Not allowed.",
    "404": "Not found.",
    "405": "Method not allowed.",
    "413": "Body or dataset too large.",
    "415": "Unsupported content type.",
    "429": "Throttled.",
    "500": "Unexpected error (logged with a traceback).",
    "503": "A dependency (database, storage, MLflow, broker) is down.",
}
OPEN_PATHS = ("/health",)


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Add every common error status, as ErrorOutput, to each operation that doesn't document it."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOutput"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for status, description in COMMON_ERRORS.items():
                if path.startswith(OPEN_PATHS) and status in ("401", "403", "413", "415", "429"):
                    continue
                responses.setdefault(status, {"description": description, "content": error})
    return result
