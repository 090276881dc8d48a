"""Inline SVG charts: no JavaScript, no fonts or scripts fetched, so the report opens offline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 520, 280
PAD_L, PAD_R, PAD_T, PAD_B = 60, 30, 36, 60
COLOURS = ("#e60023", "#0a7cff", "#1f9d55", "#f59f00", "#7048e8", "#0ca678")


def _fmt(v: float) -> str:
    if v >= 1_000_000:
        return f"{v / 1_000_000:.1f}M"
    if v >= 10_000:
        return f"{v / 1_000:.0f}k"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def nice_peak(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k at or above `value`: round axis ticks."""
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * exp >= value:
            return step * exp
    return 10 * exp


def _frame(title: str, body: list[str], peak: float) -> str:
    plot_h = HEIGHT - PAD_T - PAD_B
    ticks = []
    for i in range(5):
        value = peak * i / 4
        y = PAD_T + plot_h - plot_h * i / 4
        ticks.append(
            f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{WIDTH - PAD_R}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
            f"{escape(_fmt(value))}</text>"
        )
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
        f'<text x="{WIDTH / 2}" y="18" class="title" text-anchor="middle">{escape(title)}</text>'
        + "".join(ticks)
        + "".join(body)
        + "</svg>"
    )


def bar_chart(
    title: str, labels: Sequence[str], values: Sequence[float], notes: Sequence[str] | None = None
) -> str:
    """Vertical bars, one per label; `notes` are printed inside the bars (e.g. a category)."""
    peak = nice_peak(max([float(v) for v in values] + [1.0]) * 1.08)
    plot_w, plot_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B
    step = plot_w / max(len(values), 1)
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * float(value) / peak
        x, y = PAD_L + i * step + step * 0.15, PAD_T + plot_h - h
        colour = COLOURS[i % len(COLOURS)]
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{colour}"><title>{escape(label)}: {escape(_fmt(value))}'
            f"</title></rect>"
            f'<text x="{x + step * 0.35:.1f}" y="{y - 4:.1f}" class="value" '
            f'text-anchor="middle">{escape(_fmt(value))}</text>'
            f'<text x="{x + step * 0.35:.1f}" y="{PAD_T + plot_h + 16:.1f}" class="label" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
        if notes:
            body.append(
                f'<text x="{x + step * 0.35:.1f}" y="{PAD_T + plot_h + 32:.1f}" class="note" '
                f'text-anchor="middle">{escape(notes[i])}</text>'
            )
    return _frame(title, body, peak)


def line_chart(title: str, labels: Sequence[str], values: Sequence[float]) -> str:
    peak = nice_peak(max([float(v) for v in values] + [1.0]) * 1.08)
    plot_w, plot_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B
    step = plot_w / max(len(values) - 1, 1)
    points = [
        (PAD_L + i * step, PAD_T + plot_h - plot_h * float(v) / peak) for i, v in enumerate(values)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    body = [
        f'<polyline class="line" points="{path}" fill="none" stroke="{COLOURS[1]}" '
        'stroke-width="3"/>'
    ]
    for (x, y), label, value in zip(points, labels, values, strict=True):
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{COLOURS[1]}"><title>'
            f"{escape(label)}: {escape(_fmt(value))}</title></circle>"
            f'<text x="{x:.1f}" y="{y - 9:.1f}" class="value" text-anchor="middle">'
            f"{escape(_fmt(value))}</text>"
            f'<text x="{x:.1f}" y="{PAD_T + plot_h + 16:.1f}" class="label" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    return _frame(title, body, peak)
