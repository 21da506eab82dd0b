"""HTTP endpoints of models_api: thin shells around the services."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlservice.serializers import ErrorOutput
from models_api.serializers import TrainInput, TrainOutput
from models_api.services import TrainingSpec, model_train

ERRORS = {
    400: OpenApiResponse(ErrorOutput, description="Invalid input, naming the field and the reason."),
    401: OpenApiResponse(ErrorOutput, description="Missing or invalid token."),
    413: OpenApiResponse(ErrorOutput, description="Body or dataset too large."),
    503: OpenApiResponse(ErrorOutput, description="Storage or MLflow unavailable."),
}


class TrainView(APIView):
    """Train a model, register it in MLflow and keep its drift sample."""

    @extend_schema(
        operation_id="train",
        request={"application/json": TrainInput, "multipart/form-data": TrainInput},
        responses={201: TrainOutput, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = TrainInput(data=request.data)
        data.is_valid(raise_exception=True)
        body = model_train(spec=TrainingSpec(**data.validated_data))
        return Response(body, status=201)
