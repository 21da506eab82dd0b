"""The HTML report of a drift event: inline SVG histograms, no scripts, no CDN."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string

from drift.models import DriftEvent

CHART_WIDTH = 520
CHART_HEIGHT = 140
BAR_GAP = 2
SHARES = ("missing_baseline", "missing_subject", "unseen_share")
BAND_WIDTH = 520
BAND_HEIGHT = 46
BAND_MARGIN = 12
BAND_POINTS = (
    "value", "lower", "upper", "reference_value", "reference_lower", "reference_upper", "lower_threshold",
    "upper_threshold", "realized",
)  # fmt: skip


def drift_report_response(*, event_id: int) -> HttpResponse:
    """Return the report page of an event (404 if unknown): what the API and the admin both serve."""
    event = get_object_or_404(DriftEvent.objects.select_related("run", "drift_sample"), pk=event_id)
    html = render_to_string("drift/report.html", drift_report_context(event))
    return HttpResponse(html, content_type="text/html; charset=utf-8")


def drift_report_context(event: DriftEvent) -> dict[str, Any]:
    """Return the template context: the event and, per feature, its row and chart."""
    features = []
    for feature in event.features:
        distribution = event.distributions.get(feature["column"])
        features.append({**feature, "chart": _chart(distribution) if distribution else None})
    features.sort(key=lambda feature: (not feature["alert"], feature["column"]))
    quality_rows = [
        {**quality, **{f"{share}_shown": f"{quality[share]:.1%}" for share in SHARES}} for quality in event.data_quality
    ]
    return {"event": event, "features": features, "quality_rows": quality_rows, "chart_width": CHART_WIDTH,
            "chart_height": CHART_HEIGHT, "estimates": _estimates(event.estimated_performance),
            "band_width": BAND_WIDTH, "band_height": BAND_HEIGHT}  # fmt: skip


def _estimates(estimate: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Return one row per estimated metric, each with its band chart."""
    if not estimate or estimate.get("reason") or not estimate.get("metric"):
        return []
    entries = {estimate["metric"]: estimate, **estimate.get("metrics", {})}
    return [{"metric": metric, **entry, "band": _band(entry)} for metric, entry in entries.items()]


def _band(entry: dict[str, Any]) -> dict[str, Any] | None:
    """Return the x positions of the estimate, its confidence band, the reference band and nannyml's thresholds."""
    points = [entry[name] for name in BAND_POINTS if entry.get(name) is not None]
    if entry.get("value") is None or not points:
        return None
    low, high = min(points), max(points)
    pad = (high - low) * 0.05 or 0.01
    low, high = low - pad, high + pad

    def x(value: float | None) -> float | None:
        if value is None:
            return None
        return round(BAND_MARGIN + (value - low) / (high - low) * (BAND_WIDTH - 2 * BAND_MARGIN), 2)

    band: dict[str, Any] = {name: x(entry.get(name)) for name in BAND_POINTS}
    if band["reference_lower"] is not None and band["reference_upper"] is not None:
        band["reference_width"] = round(band["reference_upper"] - band["reference_lower"], 2)
    band.update(first=f"{low:.4g}", last=f"{high:.4g}")
    return band


def _chart(distribution: dict[str, Any]) -> dict[str, Any]:
    """Return bars (x, y, width, height) of baseline and subject shares, side by side per bin."""
    baseline, subject = distribution["baseline"], distribution["subject"]
    bins = max(len(baseline), 1)
    peak = max([*baseline, *subject, 1e-9])
    slot = CHART_WIDTH / bins
    width = max(slot / 2 - BAR_GAP, 1)
    bars = []
    for index, (left, right) in enumerate(zip(baseline, subject, strict=True)):
        for offset, share, series in ((0, left, "baseline"), (width, right, "subject")):
            height = share / peak * (CHART_HEIGHT - 20)
            bars.append({"x": round(index * slot + offset, 2), "y": round(CHART_HEIGHT - height, 2),
                         "width": round(width, 2), "height": round(height, 2), "series": series,
                         "title": f"{_label(distribution, index)}: {series} {share:.1%}"})  # fmt: skip
    return {"bars": bars, "first": _label(distribution, 0), "last": _label(distribution, bins - 1)}


def _label(distribution: dict[str, Any], index: int) -> str:
    if distribution["kind"] == "categorical":
        return str(distribution["labels"][index])
    edges = distribution["edges"]
    return f"[{edges[index]:.4g}, {edges[index + 1]:.4g})"
