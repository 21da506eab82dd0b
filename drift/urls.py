from django.urls import re_path

from drift.views import DriftEventDetailView, DriftEventListView, DriftEventReportView

urlpatterns = [
    re_path(r"^drift-events/?$", DriftEventListView.as_view(), name="drift-events-list"),
    re_path(r"^drift-events/(?P<pk>[0-9]+)/?$", DriftEventDetailView.as_view(), name="drift-events-detail"),
    re_path(r"^drift-events/(?P<pk>[0-9]+)/report/?$", DriftEventReportView.as_view(), name="drift-events-report"),
]
