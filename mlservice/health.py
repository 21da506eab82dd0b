"""Liveness and readiness: GET /health and GET /health/ready."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import error_body
from drift.clients import storage_ping
from registry.clients import mlflow_ping

logger = logging.getLogger(__name__)


def database_ping() -> None:
    """Raise unless the database answers a query."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


READINESS_CHECKS: dict[str, Callable[[], None]] = {
    "database": database_ping,
    "storage": storage_ping,
    "mlflow": mlflow_ping,
}


def readiness_failures() -> dict[str, str]:
    """Return {dependency: reason} for every dependency that does not answer."""
    failures = {}
    for name, check in READINESS_CHECKS.items():
        try:
            check()
        except Exception as exc:
            logger.warning("Readiness check %s failed: %s", name, exc)
            failures[name] = str(exc)[:500]
    return failures


HealthOutput = inline_serializer("HealthOutput", {"status": serializers.CharField()})


class HealthView(APIView):
    """Liveness: the process answers."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="health", responses={200: HealthOutput}, auth=[])
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadinessView(APIView):
    """Readiness: the database, the storage and MLflow all answer."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="health_ready", responses={200: HealthOutput, 503: HealthOutput}, auth=[])
    def get(self, request: Request) -> Response:
        failures = readiness_failures()
        if not failures:
            return Response({"status": "ok", "checks": {name: "ok" for name in READINESS_CHECKS}})
        body = error_body(
            code="dependency_unavailable",
            message=f"Not ready: {', '.join(failures)} unavailable.",
            details={"failing": sorted(failures), "reasons": failures},
        )
        return Response(body, status=503)
