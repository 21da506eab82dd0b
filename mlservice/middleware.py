"""Request-level guards that must act before a view reads the body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core.exceptions import json_error


class RequestSizeLimitMiddleware:
    """Refuse a body over MLSERVICE_MAX_BODY_BYTES with a 413 before anything reads it.

    DRF parsers stream the body without Django's DATA_UPLOAD_MAX_MEMORY_SIZE check, so the limit
    is enforced here from Content-Length.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error(request, status=400, code="bad_request", message="Invalid Content-Length.")
        limit = settings.MLSERVICE_MAX_BODY_BYTES
        if length > limit:
            return json_error(
                request,
                status=413,
                code="payload_too_large",
                message=f"Request body is {length} bytes; the limit is {limit} bytes.",
            )
        return self.get_response(request)
