"""The inline SVG charts: drawn from numbers, every text escaped, sensible with no data."""

from __future__ import annotations

from core.charts import Bar, sparkline, stacked_bars


def test_stacked_bars_draw_a_rect_per_series_and_day_and_escape_every_text():
    bars = [Bar(label="2026-11-01", segments=[("1", 3), ("<b>2</b>", 1)]), Bar(label="2026-11-02", segments=[])]

    svg = stacked_bars(bars, title='volume of "x" & <y>')

    assert svg.count('class="bar"') == 3  # two segments, and a baseline mark for the empty day
    assert "<b>" not in svg
    assert "v&lt;b&gt;2&lt;/b&gt;" in svg
    assert 'aria-label="volume of &quot;x&quot; &amp; &lt;y&gt;"' in svg
    assert "peak 4" in svg


def test_stacked_bars_of_nothing_still_draw_an_empty_chart():
    svg = stacked_bars([], title="nothing")

    assert svg.startswith("<svg")
    assert 'class="bar"' not in svg


def test_a_sparkline_skips_missing_values_marks_alerts_and_draws_the_reference():
    svg = sparkline([0.9, None, 0.8, 0.7], alerts=[False, False, False, True], reference=0.95, title="estimate")

    assert svg.count('class="alert"') == 1
    assert "stroke-dasharray" in svg
    points = svg.split('points="')[1].split('"')[0].split()
    assert len(points) == 3


def test_a_sparkline_without_values_is_a_dash():
    assert "-" in sparkline([None, None], title="nothing")
    assert "<svg" not in sparkline([], title="nothing")
