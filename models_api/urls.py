from django.urls import re_path

from models_api.views import TrainView

urlpatterns = [
    re_path(r"^train/?$", TrainView.as_view(), name="train"),
]
