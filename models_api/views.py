"""HTTP endpoints of models_api: thin shells around the services."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from core.pagination import NewestFirstPagination
from core.parsers import CSVTextParser, ORJSONParser
from core.renderers import ORJSONRenderer
from core.serializers import ERRORS
from models_api.evaluation import model_evaluate
from models_api.filters import JobFilter
from models_api.inference import INPUT_FORMATS, InferenceRequest, inference_run
from models_api.jobs import job_enqueue_training
from models_api.models import Job
from models_api.selectors import jobs_list, registered_model_detail, registered_models_list
from models_api.serializers import (
    AliasInput,
    AliasOutput,
    EvaluateInput,
    EvaluateOutput,
    InferenceInput,
    InferenceOptionsInput,
    InferenceOutput,
    InferenceQueryInput,
    JobOutput,
    ModelDetailOutput,
    ModelSummaryOutput,
    TrainInput,
    TrainOutput,
)
from models_api.services import TrainingSpec, model_train
from registry.services import model_alias_delete, model_alias_set


class TrainThrottle(UserRateThrottle):
    """POST /train per user at MLSERVICE_TRAIN_THROTTLE (read per request, so it can change)."""

    scope = "train"

    def get_rate(self) -> str | None:
        return settings.MLSERVICE_TRAIN_THROTTLE


class TrainView(APIView):
    """Train a model, register it in MLflow and keep its drift sample."""

    required_permission = "models_api.train"

    throttle_classes = [TrainThrottle]

    @extend_schema(
        operation_id="train",
        request={"application/json": TrainInput, "multipart/form-data": TrainInput},
        responses={201: TrainOutput, 202: JobOutput, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = TrainInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if fields.pop("async"):
            job = job_enqueue_training(payload=fields, user=request.user)
            body = JobOutput(job).data
            return Response(body, status=202, headers={"Location": body["location"]})
        return Response(TrainOutput(model_train(spec=TrainingSpec(**fields))).data, status=201)


class InferenceView(APIView):
    """Predict with a registered model version and store every input-prediction pair."""

    required_permission = "predictions.predict"

    parser_classes = [ORJSONParser, CSVTextParser]
    renderer_classes = [ORJSONRenderer]

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
        return Response(InferenceOutput(inference_run(request=inference)).data)


class EvaluateView(APIView):
    """Evaluate a version on a dataset, or on its stored predictions that have ground truth."""

    required_permission = "models_api.evaluate"

    @extend_schema(operation_id="evaluate", request=EvaluateInput, responses={200: EvaluateOutput, **ERRORS})
    def post(self, request: Request) -> Response:
        data = EvaluateInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(EvaluateOutput(model_evaluate(**data.validated_data)).data)


class ModelListView(APIView):
    """Registered models with their aliases."""

    required_permission = "registry.view_modelversion"

    @extend_schema(operation_id="models_list", responses={200: ModelSummaryOutput(many=True)})
    def get(self, request: Request) -> Response:
        return Response(registered_models_list())


class ModelDetailView(APIView):
    """A registered model with every version: aliases, drift sample, training run and metrics."""

    required_permission = "registry.view_modelversion"

    @extend_schema(operation_id="models_retrieve", responses={200: ModelDetailOutput, 404: ERRORS[404]})
    def get(self, request: Request, name: str) -> Response:
        return Response(registered_model_detail(name=name))


class ModelAliasView(APIView):
    """Point an alias at a version (promotion)."""

    required_permission = "registry.set_alias"

    @extend_schema(operation_id="models_alias_set", request=AliasInput, responses={200: AliasOutput, **ERRORS})
    def post(self, request: Request, name: str) -> Response:
        data = AliasInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(AliasOutput(model_alias_set(name=name, **data.validated_data)).data)


class ModelAliasDeleteView(APIView):
    """Remove an alias."""

    required_permission = "registry.set_alias"

    @extend_schema(operation_id="models_alias_delete", responses={204: None, 404: ERRORS[404]})
    def delete(self, request: Request, name: str, alias: str) -> Response:
        model_alias_delete(name=name, alias=alias)
        return Response(status=204)


@extend_schema_view(get=extend_schema(operation_id="jobs_list"))
class JobListView(ListAPIView):
    """Training jobs, newest first."""

    required_permission = "models_api.view_job"

    serializer_class = JobOutput
    pagination_class = NewestFirstPagination
    filterset_class = JobFilter

    def get_queryset(self) -> QuerySet[Job]:
        return jobs_list()


class JobDetailView(RetrieveAPIView):
    """One job: its status, and the training's result or error."""

    required_permission = "models_api.view_job"

    serializer_class = JobOutput
    queryset = Job.objects.all()

    @extend_schema(operation_id="jobs_retrieve")
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)
