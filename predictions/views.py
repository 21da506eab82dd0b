"""HTTP endpoints of the prediction store."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlservice.serializers import ErrorOutput
from predictions.selectors import predictions_filter
from predictions.serializers import FeedbackItemInput, FeedbackOutput, PredictionFilterInput, PredictionOutput
from predictions.services import FeedbackItem, feedback_apply, feedback_items_check


class PredictionCursorPagination(CursorPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-id"


class PredictionListView(ListAPIView):
    """Stored predictions, newest first, with cursor pagination."""

    serializer_class = PredictionOutput
    pagination_class = PredictionCursorPagination

    @extend_schema(operation_id="predictions_list", parameters=[PredictionFilterInput])
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        filters = PredictionFilterInput(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return predictions_filter(**filters.validated_data)


class FeedbackView(APIView):
    """Attach ground truth to stored predictions, all or nothing."""

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
        feedback_items_check(items)
        return Response({"status": "success", "updated": feedback_apply(items=items)})
