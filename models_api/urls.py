from django.urls import re_path

from models_api.views import (
    BatchScoreView,
    DataDriftView,
    DataSourceListView,
    EvaluateView,
    InferenceView,
    JobDetailView,
    JobListView,
    ModelAliasDeleteView,
    ModelAliasView,
    ModelDetailView,
    ModelListView,
    ModelPolicyView,
    TrainView,
)

NAME = r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]{0,99})"


urlpatterns = [
    re_path(r"^train/?$", TrainView.as_view(), name="train"),
    re_path(r"^inference/?$", InferenceView.as_view(), name="inference"),
    re_path(r"^evaluate/?$", EvaluateView.as_view(), name="evaluate"),
    # A drift check is drift's work, run as a job: the jobs live here, above drift.
    re_path(r"^data-drift/?$", DataDriftView.as_view(), name="data-drift"),
    re_path(r"^jobs/?$", JobListView.as_view(), name="jobs-list"),
    re_path(r"^jobs/(?P<pk>[0-9a-f-]{36})/?$", JobDetailView.as_view(), name="jobs-detail"),
    re_path(r"^models/?$", ModelListView.as_view(), name="models-list"),
    re_path(rf"^models/{NAME}/?$", ModelDetailView.as_view(), name="models-detail"),
    re_path(rf"^models/{NAME}/aliases/?$", ModelAliasView.as_view(), name="models-aliases"),
    re_path(
        rf"^models/{NAME}/aliases/(?P<alias>[A-Za-z0-9_-]+)/?$", ModelAliasDeleteView.as_view(), name="models-alias"
    ),
    re_path(rf"^models/{NAME}/policy/?$", ModelPolicyView.as_view(), name="models-policy"),
    re_path(r"^data-sources/?$", DataSourceListView.as_view(), name="data-sources"),
    re_path(r"^inference/batch/?$", BatchScoreView.as_view(), name="inference-batch"),
]
