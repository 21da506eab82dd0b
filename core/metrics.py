"""The Prometheus counters the apps increment; mlservice.metrics exposes them at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "mlservice_http_requests_total",
    "HTTP requests answered, by endpoint, method and status.",
    ["endpoint", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "mlservice_http_request_duration_seconds", "Time to answer an HTTP request.", ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)  # fmt: skip
PREDICTIONS = Counter(
    "mlservice_predictions_total", "Rows predicted and stored, by model version.", ["model_name", "model_version"]
)
