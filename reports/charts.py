"""Inline SVG charts: no JavaScript, no CDN, a few kilobytes whatever the window size."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def line_chart(
    points: Sequence[tuple[str, float | None]],
    *,
    threshold: Sequence[float | None] | None = None,
    band: Sequence[tuple[float | None, float | None]] | None = None,
    width: int = 360,
    height: int = 110,
    title: str = "",
    y_min: float | None = None,
) -> str:
    """A small line chart of one value per run, with an optional threshold line and interval band."""
    vals = [v for _, v in points if v is not None]
    extra = [t for t in (threshold or []) if t is not None]
    extra += [b for lo_hi in (band or []) for b in lo_hi if b is not None]
    if not vals:
        return f'<svg class="chart" width="{width}" height="{height}" role="img"><title>{escape(title)}</title>' \
               f'<text x="8" y="20" font-size="11">no data yet</text></svg>'
    lo = min(vals + extra) if y_min is None else y_min
    hi = max(vals + extra)
    if hi - lo < 1e-12:
        hi = lo + 1.0
    pad_l, pad_r, pad_t, pad_b = 40, 8, 18, 18
    n = len(points)

    def x(i: int) -> float:
        return pad_l + (width - pad_l - pad_r) * (i / max(n - 1, 1))

    def y(v: float) -> float:
        return pad_t + (height - pad_t - pad_b) * (1 - (v - lo) / (hi - lo))

    parts = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
             f"<title>{escape(title)}</title>",
             f'<text x="{pad_l}" y="12" font-size="11" fill="#333">{escape(title)}</text>',
             f'<text x="2" y="{y(hi) + 4:.1f}" font-size="9" fill="#666">{hi:.3g}</text>',
             f'<text x="2" y="{y(lo) + 4:.1f}" font-size="9" fill="#666">{lo:.3g}</text>']
    if band:
        upper = [(x(i), y(b[1])) for i, b in enumerate(band) if b[1] is not None]
        lower = [(x(i), y(b[0])) for i, b in enumerate(band) if b[0] is not None]
        if upper and lower:
            poly = " ".join(f"{a:.1f},{b:.1f}" for a, b in upper + lower[::-1])
            parts.append(f'<polygon points="{poly}" fill="#9ecae1" opacity="0.4"/>')
    if threshold:
        tl = [(x(i), y(t)) for i, t in enumerate(threshold) if t is not None]
        if tl:
            parts.append('<polyline fill="none" stroke="#d62728" stroke-dasharray="4 3" points="'
                         + " ".join(f"{a:.1f},{b:.1f}" for a, b in tl) + '"/>')
    line = [(x(i), y(v)) for i, (_, v) in enumerate(points) if v is not None]
    parts.append('<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="'
                 + " ".join(f"{a:.1f},{b:.1f}" for a, b in line) + '"/>')
    for i, (label, v) in enumerate(points):
        if v is not None:
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="#1f77b4">'
                         f"<title>{escape(label)}: {v:.4g}</title></circle>")
    parts.append("</svg>")
    return "".join(parts)
