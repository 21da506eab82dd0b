"""HTTP endpoints of the prediction store."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlservice.serializers import ErrorOutput
from mlservice.views import FilteredListView, NewestFirstPagination
from predictions.selectors import predictions_filter
from predictions.serializers import FeedbackItemInput, FeedbackOutput, PredictionFilterInput, PredictionOutput
from predictions.services import FeedbackItem, feedback_apply


class PredictionPagination(NewestFirstPagination):
    page_size = 100
    # The id is unique and follows insertion: a cursor that never skips rows of the same instant.
    ordering = "-id"


@extend_schema_view(get=extend_schema(operation_id="predictions_list", parameters=[PredictionFilterInput]))
class PredictionListView(FilteredListView):
    """Stored predictions, newest first, with cursor pagination."""

    serializer_class = PredictionOutput
    pagination_class = PredictionPagination
    filter_serializer_class = PredictionFilterInput
    selector = predictions_filter


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
        return Response({"status": "success", "updated": feedback_apply(items=items)})
