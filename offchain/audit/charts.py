"""Server-rendered SVG charts for the audit page (no script, no CDN: the page works offline).

Each function returns one ``<svg>`` element as text. Every bar carries its
value in ``data-value`` (and a ``<title>`` tooltip), so a test, or a
screen reader, reads the same numbers the bars draw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape

PALETTE = ("#2f6db5", "#d9822b", "#3a9a5b", "#c0392b", "#8e44ad", "#16a085", "#7f8c8d", "#b7950b")

STATUS_COLOURS = {
    "FINALIZED": "#3a9a5b", "RESOLVED": "#8e44ad", "EXPIRED": "#c0392b", "DECLINED": "#7f8c8d",
    "DISPUTED": "#d35400", "COMMITTED": "#2f6db5", "RUNNING": "#5dade2", "REQUESTED": "#b7950b",
}

MEMBER_COLOURS = {"ACTIVE": "#3a9a5b", "SUSPENDED": "#d35400", "REMOVED": "#34495e"}


def _key_label(key: str) -> str:
    """Status names read better in lower case; member and dataset names keep theirs."""
    return key.lower() if key.isupper() else key


def _label_time(timestamp: int, bucket_seconds: int) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    if bucket_seconds >= 86_400:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%m-%d %H:%M")


def _empty(title: str, width: int, height: int) -> str:
    return (f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
            f'<text x="{width // 2}" y="{height // 2}" text-anchor="middle" class="muted">no data yet</text></svg>')


def horizontal_bars(items: Sequence[tuple[str, int]], title: str, *, unit: str = "", width: int = 560,
                    bar_height: int = 22, chart_id: str = "") -> str:
    """Labelled horizontal bars, one per ``(label, value)``, longest = widest."""
    if not items:
        return _empty(title, width, 60)
    label_width = min(220, max(60, 7 * max(len(label) for label, _ in items)))
    plot = width - label_width - 90
    top = max((value for _, value in items), default=0) or 1
    height = 10 + bar_height * len(items)
    parts = [f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-label="{escape(title)}" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}"><title>{escape(title)}</title>']
    for row, (label, value) in enumerate(items):
        y = 5 + row * bar_height
        length = max(1, round(plot * value / top)) if value else 0
        colour = PALETTE[row % len(PALETTE)]
        parts.append(f'<text x="{label_width - 6}" y="{y + bar_height * 0.65:.0f}" text-anchor="end">'
                     f'{escape(label)}</text>')
        parts.append(f'<rect x="{label_width}" y="{y + 3}" width="{length}" height="{bar_height - 6}" '
                     f'fill="{colour}" data-label="{escape(label)}" data-value="{value}">'
                     f'<title>{escape(label)}: {value:,}{unit}</title></rect>')
        parts.append(f'<text x="{label_width + length + 6}" y="{y + bar_height * 0.65:.0f}">{value:,}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def stacked_columns(buckets: Mapping[int, Mapping[str, int]], keys: Sequence[str], bucket_seconds: int,
                    title: str, *, colours: Mapping[str, str] | None = None, width: int = 720,
                    height: int = 240, chart_id: str = "") -> str:
    """Columns over time, one per bucket start (Unix seconds), stacked by ``keys``; with a legend."""
    if not buckets:
        return _empty(title, width, height)
    colours = colours or {key: PALETTE[i % len(PALETTE)] for i, key in enumerate(keys)}
    starts = sorted(buckets)
    first, last = starts[0], starts[-1]
    count = (last - first) // bucket_seconds + 1
    left, right, top_margin, bottom = 44, 10, 26, 36
    plot_width, plot_height = width - left - right, height - top_margin - bottom
    column = plot_width / count
    peak = max(sum(values.values()) for values in buckets.values()) or 1
    parts = [f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-label="{escape(title)}" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}"><title>{escape(title)}</title>']
    parts.append(f'<line x1="{left}" y1="{top_margin + plot_height}" x2="{width - right}" '
                 f'y2="{top_margin + plot_height}" stroke="#999"/>')
    parts.append(f'<text x="{left - 4}" y="{top_margin + 4}" text-anchor="end">{peak:,}</text>')
    parts.append(f'<text x="{left - 4}" y="{top_margin + plot_height}" text-anchor="end">0</text>')
    legend_x = left
    for key in keys:
        parts.append(f'<rect x="{legend_x}" y="6" width="10" height="10" fill="{colours.get(key, "#999")}"/>'
                     f'<text x="{legend_x + 14}" y="15">{escape(_key_label(key))}</text>')
        legend_x += 24 + 7 * len(key)
    label_every = max(1, math.ceil(80 / column))  # labels are about 70 px wide
    for position in range(count):
        start = first + position * bucket_seconds
        values = buckets.get(start, {})
        x = left + position * column
        y = top_margin + plot_height
        for key in keys:
            value = values.get(key, 0)
            if not value:
                continue
            bar = plot_height * value / peak
            y -= bar
            parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(1.0, column - 2):.1f}" height="{bar:.1f}" '
                         f'fill="{colours.get(key, "#999")}" data-bucket="{start}" data-key="{escape(key)}" '
                         f'data-value="{value}"><title>{escape(_label_time(start, bucket_seconds))} '
                         f'{escape(_key_label(key))}: {value:,}</title></rect>')
        if position % label_every == 0:
            parts.append(f'<text x="{x + column / 2:.1f}" y="{height - 14}" text-anchor="middle">'
                         f'{escape(_label_time(start, bucket_seconds))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def columns(buckets: Mapping[int, int], bucket_seconds: int, title: str, *, key: str = "value",
            width: int = 720, height: int = 200, chart_id: str = "") -> str:
    """One series over time as columns (a :func:`stacked_columns` with one key)."""
    return stacked_columns({start: {key: value} for start, value in buckets.items()}, [key], bucket_seconds, title,
                           colours={key: PALETTE[0]}, width=width, height=height, chart_id=chart_id)
