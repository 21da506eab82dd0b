"""HTTP endpoints of the prediction store."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import NewestFirstPagination
from core.serializers import ERRORS, ErrorOutput
from predictions.exports import EXPORT_FORMATS, predictions_export
from predictions.filters import PredictionFilter
from predictions.models import Prediction
from predictions.selectors import predictions_list
from predictions.serializers import FeedbackItemInput, FeedbackOutput, PredictionOutput
from predictions.services import FeedbackItem, feedback_apply


class PredictionPagination(NewestFirstPagination):
    page_size = 100
    # The id is unique and follows insertion: a cursor that never skips rows of the same instant.
    ordering = "-id"


@extend_schema_view(get=extend_schema(operation_id="predictions_list"))
class PredictionListView(ListAPIView):
    """Stored predictions, newest first, with cursor pagination."""

    required_permission = "predictions.view_prediction"

    serializer_class = PredictionOutput
    pagination_class = PredictionPagination
    filterset_class = PredictionFilter

    def get_queryset(self) -> QuerySet[Prediction]:
        return predictions_list()


class FeedbackView(APIView):
    """Attach ground truth to stored predictions, all or nothing."""

    required_permission = "predictions.give_feedback"

    @extend_schema(
        operation_id="predictions_feedback",
        request=FeedbackItemInput(many=True),
        responses={
            200: FeedbackOutput,
            400: OpenApiResponse(ErrorOutput, description="Invalid items."),
            404: OpenApiResponse(ErrorOutput, description="Unknown predictions, all named; nothing applied."),
        },
    )
    def post(self, request: Request) -> Response:
        data = FeedbackItemInput(data=request.data, many=True, allow_empty=False)
        data.is_valid(raise_exception=True)
        items = [FeedbackItem(**item) for item in data.validated_data]
        return Response({"status": "success", "updated": feedback_apply(items=items)})


class PredictionExportInput(serializers.Serializer):
    request_id = serializers.UUIDField(help_text="The request (or batch job result's request_id) to export.")
    format = serializers.ChoiceField(choices=sorted(EXPORT_FORMATS), default="csv")


class _FirstRenderer(DefaultContentNegotiation):
    """Ignore ``?format=``: here it names the export's file format, not one of DRF's renderers."""

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


class PredictionExportView(APIView):
    """Stream the rows one request or batch job stored, with inputs, prediction and probabilities."""

    required_permission = "predictions.view_prediction"

    content_negotiation_class = _FirstRenderer

    @extend_schema(
        operation_id="predictions_export",
        parameters=[
            OpenApiParameter("request_id", OpenApiTypes.UUID, required=True),
            OpenApiParameter("format", OpenApiTypes.STR, enum=sorted(EXPORT_FORMATS), default="csv"),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY,
            400: ERRORS[400],
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        query = PredictionExportInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        request_id, export_format = query.validated_data["request_id"], query.validated_data["format"]
        response = StreamingHttpResponse(
            predictions_export(request_id=request_id, export_format=export_format),
            content_type=EXPORT_FORMATS[export_format],
        )
        response["Content-Disposition"] = f'attachment; filename="predictions-{request_id}.{export_format}"'
        return response
