"""Domain errors and the one error shape every failure is returned in.

``{"status": "failed", "error": {"code", "message", "details"}}`` (+ ``run_name`` when a run had
started), from DRF's exception handler, Django's 404/500 handlers and the size-limit middleware.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """An expected failure with an HTTP status, a stable code and structured details."""

    status_code = 400
    code = "invalid_input"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, run_name: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.run_name = run_name


class InvalidInput(ApplicationError):
    status_code, code = 400, "invalid_input"

    @classmethod
    def for_field(cls, field: str, reason: str) -> InvalidInput:
        """Return the error for one named field."""
        return cls(f"{field}: {reason}", details={field: [reason]})


class NotFound(ApplicationError):
    status_code, code = 404, "not_found"


class Conflict(ApplicationError):
    status_code, code = 409, "conflict"


class PayloadTooLarge(ApplicationError):
    status_code, code = 413, "payload_too_large"


class DependencyUnavailable(ApplicationError):
    """A service this one depends on (database, storage, MLflow) did not answer."""

    status_code, code = 503, "dependency_unavailable"

    def __init__(self, dependency: str, reason: str, *, run_name: str | None = None):
        super().__init__(
            f"{dependency} is unavailable: {reason}", details={"dependency": dependency}, run_name=run_name
        )
        self.dependency = dependency


@contextmanager
def dependency_errors(dependency: str, action: str, *, is_down: Callable[[BaseException], bool]) -> Iterator[None]:
    """Turn a failure that ``is_down`` says means ``dependency`` is unreachable into DependencyUnavailable (503)."""
    try:
        yield
    except DependencyUnavailable:
        raise
    except Exception as exc:
        if is_down(exc):
            raise DependencyUnavailable(dependency, f"{action}: {exc}") from exc
        raise


def error_body(*, code: str, message: str, details: dict[str, Any] | None = None, run_name: str | None = None):
    """Return the one error shape."""
    body: dict[str, Any] = {
        "status": "failed",
        "error": {"code": code, "message": message, "details": details or {}},
    }
    if run_name:
        body["run_name"] = run_name
    return body


def _validation_message(details: Any) -> str:
    """Return 'field: reason' for the first failing field of a DRF validation error."""
    if isinstance(details, dict):
        for field, reasons in details.items():
            inner = _validation_message(reasons)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(details, list) and details:
        return _validation_message(details[0])
    return str(details)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map every exception raised in a DRF view to the one error shape."""
    if isinstance(exc, OperationalError | InterfaceError):
        # The database went away (e.g. while authenticating the token): a 503, not a bug.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "no connection"
        exc = DependencyUnavailable("database", reason)
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    if isinstance(exc, ApplicationError):
        if exc.status_code >= 500:
            logger.warning("%s: %s", exc.code, exc.message)
        body = error_body(code=exc.code, message=exc.message, details=exc.details, run_name=exc.run_name)
        return Response(body, status=exc.status_code)

    if isinstance(exc, drf_exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = error_body(code="invalid_input", message=_validation_message(details), details=details)
        return Response(body, status=400)

    if isinstance(exc, drf_exceptions.APIException):
        headers = {}
        if auth_header := getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = auth_header
        if wait := getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(wait))
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        body = error_body(code=str(code), message=str(exc.detail))
        return Response(body, status=exc.status_code, headers=headers)

    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
    return Response(error_body(code="internal_error", message="Internal server error."), status=500)


def json_error(request: HttpRequest, *, status: int, code: str, message: str) -> JsonResponse:
    """Return the one error shape outside DRF (URL resolver, middleware)."""
    return JsonResponse(error_body(code=code, message=message), status=status)


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, status=404, code="not_found", message=f"No endpoint at {request.path}.")


def handler500(request: HttpRequest) -> JsonResponse:
    return json_error(request, status=500, code="internal_error", message="Internal server error.")


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, status=400, code="bad_request", message="Bad request.")


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, status=403, code="permission_denied", message="Permission denied.")
