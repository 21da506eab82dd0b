from django.urls import re_path

from models_api.views import InferenceView, TrainView

urlpatterns = [
    re_path(r"^train/?$", TrainView.as_view(), name="train"),
    re_path(r"^inference/?$", InferenceView.as_view(), name="inference"),
]
