"""Prometheus metrics at /metrics, correct under several gunicorn workers.

Request and prediction counters live in prometheus_client; with PROMETHEUS_MULTIPROC_DIR set
(gunicorn, see deploy/gunicorn.conf.py) every worker writes its own files and a scrape merges
them. Drift and estimated-performance gauges are read from the database at scrape time (the latest
check of each version), so they are the same whichever worker answers. Labels are bounded: route
names, model names and versions, feature and metric names; never request or row ids.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from core.metrics import HTTP_LATENCY, HTTP_REQUESTS


class RequestMetricsMiddleware:
    """Count and time every request under its route name (bounded), not its path."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        endpoint = (match.url_name or match.view_name) if match else "unmatched"
        HTTP_LATENCY.labels(endpoint, request.method).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        return response


class DriftCollector:
    """Drift gauges of the latest completed check of every version, from the database."""

    def collect(self) -> Iterator[Metric]:
        from drift.selectors import latest_events_per_version

        labels = ["model_name", "model_version"]
        feature_labels = [*labels, "feature", "method"]
        value = GaugeMetricFamily(
            "mlservice_drift_feature_value", "Drift statistic of a feature (nannyml).", labels=feature_labels
        )
        alert = GaugeMetricFamily(
            "mlservice_drift_feature_alert", "1 when a feature's drift crosses its threshold.", labels=feature_labels
        )
        detected = GaugeMetricFamily("mlservice_drift_detected", "1 when any feature drifted.", labels=labels)
        share = GaugeMetricFamily("mlservice_drift_drifted_share", "Share of features that drifted.", labels=labels)
        checked = GaugeMetricFamily(
            "mlservice_drift_last_check_timestamp_seconds", "Time of the latest drift check.", labels=labels
        )
        for event in latest_events_per_version():
            version = [event.registered_model_name, event.model_version]
            detected.add_metric(version, float(event.drift_detected))
            share.add_metric(version, event.drifted_share)
            checked.add_metric(version, event.created_at.timestamp())
            for feature in event.features:
                feature_version = [*version, feature["column"], feature["method"]]
                if feature["value"] is not None:
                    value.add_metric(feature_version, feature["value"])
                alert.add_metric(feature_version, float(feature["alert"]))
        yield from (value, alert, detected, share, checked)


class EstimatedPerformanceCollector:
    """Estimated performance of the latest completed check of every version, from the database."""

    def collect(self) -> Iterator[Metric]:
        from drift.selectors import latest_events_per_version

        labels = ["model_name", "model_version", "metric"]
        estimate = GaugeMetricFamily(
            "mlservice_estimated_performance",
            "Performance estimated without labels on the latest check's data (nannyml CBPE or DLE).",
            labels=labels,
        )
        alert = GaugeMetricFamily(
            "mlservice_estimated_performance_alert",
            "1 when the estimate leaves nannyml's threshold band or is worse than the reference band.",
            labels=labels,
        )
        reference = GaugeMetricFamily(
            "mlservice_estimated_performance_reference",
            "The metric realized on the version's labelled drift sample.",
            labels=labels,
        )
        for event in latest_events_per_version():
            signal = event.estimated_performance or {}
            if not signal.get("metric"):
                continue
            for metric, entry in {signal["metric"]: signal, **signal.get("metrics", {})}.items():
                metric_labels = [event.registered_model_name, event.model_version, metric]
                if entry.get("value") is None:
                    continue
                estimate.add_metric(metric_labels, entry["value"])
                alert.add_metric(metric_labels, float(entry["alert"]))
                if entry.get("reference_value") is not None:
                    reference.add_metric(metric_labels, entry["reference_value"])
        yield from (estimate, alert, reference)


class ModelDriftCollector:
    """Drift of the model's outputs and multivariate drift of its inputs, from the latest check of every version."""

    def collect(self) -> Iterator[Metric]:
        from drift.selectors import latest_events_per_version

        labels = ["model_name", "model_version"]
        prediction_value = GaugeMetricFamily(
            "mlservice_prediction_drift_value",
            "Drift statistic of the model's outputs on the latest check's data vs its outputs on the drift sample.",
            labels=[*labels, "method"],
        )
        prediction_alert = GaugeMetricFamily(
            "mlservice_prediction_drift_alert", "1 when the model's outputs drifted.", labels=labels
        )
        reconstruction = GaugeMetricFamily(
            "mlservice_multivariate_drift_value",
            "PCA reconstruction error of the latest check's data (nannyml multivariate drift).",
            labels=labels,
        )
        lower = GaugeMetricFamily(
            "mlservice_multivariate_drift_lower", "Lower end of the reconstruction error's band.", labels=labels
        )
        upper = GaugeMetricFamily(
            "mlservice_multivariate_drift_upper", "Upper end of the reconstruction error's band.", labels=labels
        )
        multivariate_alert = GaugeMetricFamily(
            "mlservice_multivariate_drift_alert",
            "1 when the reconstruction error left its band (inputs drifted together).",
            labels=labels,
        )
        for event in latest_events_per_version():
            version = [event.registered_model_name, event.model_version]
            outputs = event.prediction_drift or {}
            if outputs.get("value") is not None:
                prediction_value.add_metric([*version, outputs["method"]], outputs["value"])
                prediction_alert.add_metric(version, float(outputs["alert"]))
            joint = event.multivariate or {}
            if joint.get("value") is not None:
                reconstruction.add_metric(version, joint["value"])
                multivariate_alert.add_metric(version, float(joint["alert"]))
                for gauge, bound in ((lower, joint.get("lower")), (upper, joint.get("upper"))):
                    if bound is not None:
                        gauge.add_metric(version, bound)
        yield from (prediction_value, prediction_alert, reconstruction, lower, upper, multivariate_alert)


def metrics_exposition() -> bytes:
    """Return the text exposition of every metric (all workers' counters, and drift)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        counters = generate_latest(registry)
    else:
        counters = generate_latest(REGISTRY)
    drift = CollectorRegistry(auto_describe=False)
    drift.register(DriftCollector())
    drift.register(EstimatedPerformanceCollector())
    drift.register(ModelDriftCollector())
    return counters + generate_latest(drift)


class MetricsPermission(IsAuthenticated):
    """A token, unless MLSERVICE_METRICS_PUBLIC is on."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return settings.MLSERVICE_METRICS_PUBLIC or super().has_permission(request, view)


class MetricsView(APIView):
    """Prometheus metrics."""

    permission_classes = [MetricsPermission]

    @extend_schema(
        operation_id="metrics",
        responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="Prometheus text format")},
    )
    def get(self, request: Request) -> HttpResponse:
        return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
