"""HTTP endpoints of models_api: thin shells around the services."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlservice.parsers import CSVTextParser
from mlservice.serializers import ErrorOutput
from models_api.inference import INPUT_FORMATS, InferenceRequest, inference_run
from models_api.serializers import (
    InferenceInput,
    InferenceOptionsInput,
    InferenceOutput,
    InferenceQueryInput,
    TrainInput,
    TrainOutput,
)
from models_api.services import TrainingSpec, model_train

ERRORS = {
    400: OpenApiResponse(ErrorOutput, description="Invalid input, naming the field and the reason."),
    401: OpenApiResponse(ErrorOutput, description="Missing or invalid token."),
    404: OpenApiResponse(ErrorOutput, description="Unknown model, version or alias."),
    413: OpenApiResponse(ErrorOutput, description="Body or dataset too large."),
    415: OpenApiResponse(ErrorOutput, description="Unsupported content type."),
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


class InferenceView(APIView):
    """Predict with a registered model version and store every input-prediction pair."""

    parser_classes = [JSONParser, CSVTextParser]

    @extend_schema(
        operation_id="inference",
        request={"application/json": InferenceInput, "text/csv": {"type": "string"}},
        parameters=[InferenceQueryInput],
        responses={200: InferenceOutput, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        if isinstance(request.data, str):
            selection = InferenceQueryInput(data=request.query_params)
            selection.is_valid(raise_exception=True)
            inference = InferenceRequest(**selection.validated_data, csv=request.data)
        else:
            # The input itself is parsed once, by MLflow's scoring-server parsers, not re-validated here.
            options = InferenceOptionsInput(data=request.data)
            options.is_valid(raise_exception=True)
            payload = {key: options.initial_data[key] for key in INPUT_FORMATS if key in options.initial_data}
            inference = InferenceRequest(**options.validated_data, payload=payload)
        return Response(inference_run(request=inference))
