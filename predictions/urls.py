from django.urls import re_path

from predictions.views import FeedbackView, PredictionListView

urlpatterns = [
    re_path(r"^predictions/?$", PredictionListView.as_view(), name="predictions-list"),
    re_path(r"^predictions/feedback/?$", FeedbackView.as_view(), name="predictions-feedback"),
]
