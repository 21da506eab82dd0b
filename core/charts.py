"""Small charts as inline SVG, drawn on the server: the admin runs offline, with no JavaScript library.

Every text that reaches the markup goes through ``format_html`` (escaped); coordinates are numbers
this module formats itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

# Colours of the stacked series (a version each), then again from the start.
PALETTE = ("#417690", "#e0a030", "#79aec8", "#8e5ea2", "#3c9d5d", "#c2514d", "#6b6b6b", "#b5a642")
ALERT = "#ba2121"


@dataclass(frozen=True)
class Bar:
    """One bar of a stacked bar chart: its label, and a value per series (key, value)."""

    label: str
    segments: Sequence[tuple[str, float]]

    @property
    def total(self) -> float:
        return sum(value for _, value in self.segments)


def _n(value: float) -> str:
    return f"{value:.1f}"


def stacked_bars(
    bars: Sequence[Bar], *, title: str, width: int = 1000, height: int = 160, unit: str = ""
) -> SafeString:
    """Return an SVG bar chart, one bar per item stacked by series, with a legend of the series."""
    top, bottom, left = 14, 18, 4
    plot = height - top - bottom
    peak = max((bar.total for bar in bars), default=0) or 1
    step = (width - left) / max(len(bars), 1)
    keys: list[str] = []
    for bar in bars:
        keys.extend(key for key, _ in bar.segments if key not in keys)
    colour = {key: PALETTE[index % len(PALETTE)] for index, key in enumerate(keys)}
    rects = []
    for index, bar in enumerate(bars):
        y: float = top + plot
        for key, value in bar.segments:
            h = plot * value / peak
            y -= h
            tip = f"{bar.label}: {value:,.0f}{unit} ({key})" if key else f"{bar.label}: {value:,.0f}{unit}"
            rects.append((_n(left + index * step + 1), _n(y), _n(max(step - 2, 1)), _n(h), colour[key], tip))
        if not bar.segments:
            rects.append((_n(left + index * step + 1), _n(top + plot - 0.5), _n(max(step - 2, 1)), "0.5", "#ccc",
                          f"{bar.label}: 0{unit}"))  # fmt: skip
    body = format_html_join(
        "", '<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>', rects
    )
    labels = format_html(
        '<text x="{}" y="{}" font-size="10" fill="#666">{}</text>'
        '<text x="{}" y="{}" font-size="10" fill="#666" text-anchor="end">{}</text>'
        '<text x="{}" y="10" font-size="10" fill="#666">peak {}{}</text>',
        left, height - 4, bars[0].label if bars else "", width, height - 4, bars[-1].label if bars else "",
        left, f"{peak:,.0f}", unit,
    )  # fmt: skip
    legend = format_html_join(
        "",
        '<span class="legend"><span style="display:inline-block;width:10px;height:10px;background:{}"></span>'
        " {}</span> ",
        ((colour[key], f"v{key}") for key in keys if key),
    )
    return format_html(
        '<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" '
        'role="img" aria-label="{}"><line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#ccc"/>{}{}</svg>'
        '<div class="chart-legend">{}</div>',
        width, height, width, height, title, left, top + plot, width, top + plot, body, labels, legend,
    )  # fmt: skip


def sparkline(
    values: Sequence[float | None],
    *,
    title: str,
    alerts: Sequence[bool] = (),
    reference: float | None = None,
    width: int = 120,
    height: int = 30,
) -> SafeString:
    """Return an SVG line of ``values`` (oldest first, None where a value is missing).

    Points in alert are red dots; ``reference`` is a dashed line (e.g. the metric on the reference data).
    """
    known = [value for value in values if value is not None]
    if not known:
        return format_html('<span class="quiet">-</span>')
    scale = [*known, *([reference] if reference is not None else [])]
    low, high = min(scale), max(scale)
    spread = (high - low) or 1.0
    pad = 3
    step = (width - 2 * pad) / max(len(values) - 1, 1)

    def y(value: float) -> str:
        return _n(pad + (height - 2 * pad) * (1 - (value - low) / spread))

    points = [(_n(pad + index * step), y(value)) for index, value in enumerate(values) if value is not None]
    line = " ".join(f"{x},{py}" for x, py in points)
    dots = format_html_join(
        "",
        '<circle class="alert" cx="{}" cy="{}" r="2.5" fill="' + ALERT + '"/>',
        (
            (_n(pad + index * step), y(value))
            for index, (value, alert) in enumerate(zip(values, alerts, strict=False))
            if alert and value is not None
        ),
    )
    guide = ""
    if reference is not None:
        guide = format_html(
            '<line x1="0" y1="{}" x2="{}" y2="{}" stroke="#999" stroke-dasharray="2,2"/>',
            y(reference),
            width,
            y(reference),
        )
    last_x, last_y = points[-1]
    # The latest point first, so an alert's red dot on it stays visible.
    return format_html(
        '<svg class="sparkline" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" '
        'role="img" aria-label="{}"><title>{}</title>{}<polyline fill="none" stroke="#417690" stroke-width="1.5" '
        'points="{}"/><circle cx="{}" cy="{}" r="2" fill="#417690"/>{}</svg>',
        width, height, width, height, title, title, guide, line, last_x, last_y, dots,
    )  # fmt: skip
