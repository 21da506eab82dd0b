from django.urls import re_path

from predictions.views import FeedbackView, PredictionExportView, PredictionListView

urlpatterns = [
    re_path(r"^predictions/?$", PredictionListView.as_view(), name="predictions-list"),
    re_path(r"^predictions/feedback/?$", FeedbackView.as_view(), name="predictions-feedback"),
    re_path(r"^predictions/export/?$", PredictionExportView.as_view(), name="predictions-export"),
]
