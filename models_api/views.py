"""HTTP endpoints of models_api: thin shells around the services."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.parsers import JSONParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from core.datasources import data_sources_describe
from core.pagination import NewestFirstPagination
from core.parsers import CSVTextParser, ORJSONParser
from core.renderers import ORJSONRenderer
from core.serializers import ERRORS
from drift.serializers import DataDriftInput, DriftEventOutput
from models_api.batch import batch_score_prepare
from models_api.filters import JobFilter
from models_api.inference import INPUT_FORMATS, InferenceRequest, inference_run
from models_api.jobs import (
    job_enqueue_drift_check,
    job_enqueue_evaluation,
    job_enqueue_scoring,
    job_enqueue_training,
    job_wait,
)
from models_api.models import Job
from models_api.policies import PolicyFields, retrain_policy_delete, retrain_policy_get, retrain_policy_put
from models_api.selectors import jobs_list, registered_model_detail, registered_models_list
from models_api.serializers import (
    AliasInput,
    AliasOutput,
    BatchScoreInput,
    DataSourceOutput,
    EvaluateInput,
    EvaluateOutput,
    InferenceInput,
    InferenceOptionsInput,
    InferenceOutput,
    InferenceQueryInput,
    JobOutput,
    ModelDetailOutput,
    ModelSummaryOutput,
    RetrainPolicyInput,
    RetrainPolicyOutput,
    TrainInput,
    TrainOutput,
)
from registry.services import model_alias_delete, model_alias_set


class TrainThrottle(UserRateThrottle):
    """POST /train per user at MLSERVICE_TRAIN_THROTTLE (read per request, so it can change)."""

    scope = "train"

    def get_rate(self) -> str | None:
        return settings.MLSERVICE_TRAIN_THROTTLE


class TrainView(APIView):
    """Train a model on a job worker, register it in MLflow and keep its drift sample.

    Never in this process: the job is queued, and without "async" the request waits for it up to
    MLSERVICE_TRAIN_WAIT_S (201 with the result, or the job's error), then answers 202 with the job.
    """

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
        wait_s = _wait_s(fields, settings.MLSERVICE_TRAIN_WAIT_S)
        job = job_enqueue_training(payload=fields, user=request.user)
        return _job_response(job, wait_s=wait_s, status=201)


def _wait_s(fields: dict[str, object], wait_s: float) -> float:
    """Take "async" out of a validated body and return how long its request waits for the job (0: not at all)."""
    return 0 if fields.pop("async") else wait_s


def _job_response(job: Job, *, wait_s: float, status: int) -> Response:
    """Answer with the job's result (``status``) or its error if it ends within ``wait_s``, else 202 with the job."""
    if wait_s > 0:
        job = job_wait(job=job, timeout=wait_s)
    if job.status == Job.Status.SUCCEEDED:
        return Response(job.result, status=status)
    if job.status == Job.Status.FAILED:
        return Response(job.error, status=job.error_status or 500)
    body = JobOutput(job).data
    return Response(body, status=202, headers={"Location": body["location"]})


class DataDriftView(APIView):
    """Check data for drift against a baseline (default: the model version's drift sample), on a job worker.

    The statistics and nannyml run on a worker, never in this process: the request waits for the
    check up to MLSERVICE_DRIFT_WAIT_S (200 with the check), then answers 202 with the job.
    """

    required_permission = "drift.check_drift"

    @extend_schema(
        operation_id="data_drift",
        request=DataDriftInput,
        responses={200: DriftEventOutput, 202: JobOutput, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = DataDriftInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = job_enqueue_drift_check(payload=dict(data.validated_data), user=request.user)
        return _job_response(job, wait_s=settings.MLSERVICE_DRIFT_WAIT_S, status=200)


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
    """Evaluate a version on a dataset, or on its stored predictions that have ground truth, on a job worker.

    Loading the model, the metrics and the eval run happen on a worker, never in this process: without
    "async" the request waits for the job up to MLSERVICE_EVALUATE_WAIT_S (200 with the metrics, or the
    job's error), then answers 202 with the job.
    """

    required_permission = "models_api.evaluate"

    @extend_schema(
        operation_id="evaluate",
        request=EvaluateInput,
        responses={200: EvaluateOutput, 202: JobOutput, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = EvaluateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        wait_s = _wait_s(fields, settings.MLSERVICE_EVALUATE_WAIT_S)
        job = job_enqueue_evaluation(payload=fields, user=request.user)
        return _job_response(job, wait_s=wait_s, status=200)


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


# --- Retraining policies --------------------------------------------------------------------------


class ModelPolicyView(APIView):
    """A registered model's retraining policy: read it (training role), replace or remove it (operators)."""

    parser_classes = [JSONParser]

    @property
    def required_permission(self) -> str:
        if self.request.method in SAFE_METHODS:
            return "models_api.view_retrainpolicy"
        return "models_api.change_retrainpolicy"

    @extend_schema(operation_id="models_policy_retrieve", responses={200: RetrainPolicyOutput, 404: ERRORS[404]})
    def get(self, request: Request, name: str) -> Response:
        return Response(RetrainPolicyOutput(retrain_policy_get(model_name=name)).data)

    @extend_schema(
        operation_id="models_policy_update",
        request=RetrainPolicyInput,
        responses={200: RetrainPolicyOutput, 201: RetrainPolicyOutput, **ERRORS},
    )
    def put(self, request: Request, name: str) -> Response:
        data = RetrainPolicyInput(data=request.data)
        data.is_valid(raise_exception=True)
        policy, created = retrain_policy_put(model_name=name, fields=PolicyFields(**data.validated_data))
        return Response(RetrainPolicyOutput(policy).data, status=201 if created else 200)

    @extend_schema(operation_id="models_policy_delete", responses={204: None, 404: ERRORS[404]})
    def delete(self, request: Request, name: str) -> Response:
        retrain_policy_delete(model_name=name)
        return Response(status=204)


# --- Data sources and batch scoring ------------------------------------------------------------


class DataSourceListView(APIView):
    """The configured data sources, their named queries and each query's parameters."""

    # Who reads datasets (train, evaluate, check drift) may see what the sources offer.
    required_permission = "models_api.train"

    @extend_schema(operation_id="data_sources_list", responses={200: DataSourceOutput(many=True)})
    def get(self, request: Request) -> Response:
        return Response(DataSourceOutput(data_sources_describe(), many=True).data)


class BatchScoreView(APIView):
    """Score every row of a dataset with one version on a worker, storing them under one request id."""

    required_permission = "models_api.score"

    parser_classes = [JSONParser]

    @extend_schema(operation_id="inference_batch", request=BatchScoreInput, responses={202: JobOutput, **ERRORS})
    def post(self, request: Request) -> Response:
        data = BatchScoreInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        payload = batch_score_prepare(
            model_name=fields["model_name"],
            model_version=fields.get("model_version"),
            alias=fields.get("alias"),
            data=fields["data"],
        )
        body = JobOutput(job_enqueue_scoring(payload=payload, user=request.user)).data
        return Response(body, status=202, headers={"Location": body["location"]})
