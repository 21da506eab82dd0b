"""HTTP endpoints of the prediction store."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import NewestFirstPagination
from core.serializers import ErrorOutput
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
