"""HTTP endpoints of the drift app."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import NewestFirstPagination
from drift.filters import DriftEventFilter
from drift.models import DriftEvent
from drift.reports import drift_report_response
from drift.selectors import drift_events_list
from drift.serializers import DriftEventOutput


@extend_schema_view(get=extend_schema(operation_id="drift_events_list"))
class DriftEventListView(ListAPIView):
    """Drift events, newest first, with the admin's filters."""

    required_permission = "drift.view_driftevent"

    serializer_class = DriftEventOutput
    pagination_class = NewestFirstPagination
    filterset_class = DriftEventFilter

    def get_queryset(self) -> QuerySet[DriftEvent]:
        return drift_events_list()


class DriftEventDetailView(RetrieveAPIView):
    """One drift event."""

    required_permission = "drift.view_driftevent"

    serializer_class = DriftEventOutput
    queryset = DriftEvent.objects.select_related("run")

    @extend_schema(operation_id="drift_events_retrieve")
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class DriftEventReportView(APIView):
    """The event's HTML report: per-feature distributions, values against thresholds, alerts."""

    required_permission = "drift.view_driftevent"

    @extend_schema(
        operation_id="drift_events_report", responses={(200, "text/html"): OpenApiResponse(OpenApiTypes.STR)}
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        return drift_report_response(event_id=pk)
