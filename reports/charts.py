"""Charts with Plotly, drawn from stored profile digests: the one module that knows Plotly.

The page embeds each figure as a small JSON spec; Plotly's JavaScript is served once, from the
installed plotly package, as a cached static file (/static/plotly.min.js), so pages work offline
and stay small whatever the window size.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

import plotly

from monitor.errors import ConfigError

PLOTLY_VERSION: str = plotly.__version__
PLOTLY_URL = f"/static/plotly-{PLOTLY_VERSION}.min.js"  # versioned, so it can be cached for a year

# One colour per role on every chart: the window, the reference, thresholds, label-free estimates.
WINDOW, REFERENCE, THRESHOLD, ESTIMATE, COVERAGE = "#1f77b4", "#8c8c8c", "#d62728", "#ff7f0e", "#c7dcef"
_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
_BOOT = ("<script id=draw-plots>window.addEventListener('DOMContentLoaded',function(){"
         "if(!window.Plotly){return;}"
         "document.querySelectorAll('script[data-plot]').forEach(function(s){"
         "var f=JSON.parse(s.textContent);Plotly.newPlot(s.dataset.plot,f.data,f.layout,f.config);});});</script>")


def plotly_js() -> Path:
    """The plotly.min.js shipped inside the plotly package."""
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.exists():  # pragma: no cover - depends on the install
        raise ConfigError(f"plotly {PLOTLY_VERSION} is installed without package_data/plotly.min.js")
    return path


def scripts() -> str:
    """What a page with charts adds once: the library (static, cached) and the loop that draws each figure."""
    return f"<script src='{PLOTLY_URL}'></script>{_BOOT}"


def _figure(div_id: str, data: list[dict[str, Any]], layout: dict[str, Any], *, axis: str = "") -> str:
    base = {"margin": {"l": 48, "r": 36, "t": 36, "b": 40}, "height": 300, "font": {"size": 11},
            "legend": {"orientation": "h", "y": -0.3, "yanchor": "top"}, "hovermode": "x unified"}
    spec = json.dumps({"data": data, "layout": {**base, **layout}, "config": _CONFIG}, separators=(",", ":"),
                      allow_nan=False, default=str)
    spec = spec.replace("<", "\\u003c")  # a feature named </script> must not close the tag
    safe = escape(div_id, quote=True)
    return (f"<div class=plot id='{safe}' data-x='{escape(axis, quote=True)}'></div>"
            f"<script type=application/json data-plot='{safe}'>{spec}</script>")


def _clean(values: Sequence[float | None]) -> list[float | None]:
    return [None if v is None or v != v else float(v) for v in values]


def _bin_labels(edges: Sequence[float | None]) -> list[str]:
    e = [f"{x:.3g}" for x in edges if x is not None]
    if not e:
        return ["all"]
    return [f"< {e[0]}", *[f"{a}–{b}" for a, b in zip(e, e[1:], strict=False)], f"≥ {e[-1]}"]


def distribution_chart(div_id: str, name: str, prof: dict[str, Any]) -> str:
    """Reference vs window: histogram shares on the reference's bins, or category shares (unseen marked)."""
    if prof.get("kind") == "numerical":
        x = _bin_labels(prof.get("edges") or [])
    else:
        x = [str(c) for c in prof.get("categories", [])]
    title = name
    ref, cur = _clean(prof.get("reference", [])), _clean(prof.get("window", []))
    colours = [THRESHOLD if c == "(unseen)" and (cur[i] or 0) > 0 else WINDOW for i, c in enumerate(x)]
    data = [{"type": "bar", "name": "reference", "x": x, "y": ref, "marker": {"color": REFERENCE},
             "hovertemplate": "%{y:.1%}"},
            {"type": "bar", "name": "this window", "x": x, "y": cur, "marker": {"color": colours},
             "hovertemplate": "%{y:.1%}"}]
    if prof.get("kind") == "categorical" and prof.get("unseen_values"):
        title += f" · unseen: {', '.join(map(str, prof['unseen_values'][:2]))}"
    return _figure(div_id, data, {"title": {"text": title}, "barmode": "group",
                                  "yaxis": {"tickformat": ".0%", "title": {"text": "share of rows"}},
                                  "xaxis": {"type": "category", "tickangle": -35}}, axis="category")


def trend_chart(div_id: str, title: str, dates: Sequence[str], values: Sequence[float | None], *,
                threshold: Sequence[float | None] | None = None, value_name: str = "statistic",
                means: Sequence[float | None] | None = None) -> str:
    """A statistic per window over time, its threshold, and (optionally) the window's mean on a second axis."""
    data: list[dict[str, Any]] = [{"type": "scatter", "mode": "lines+markers", "name": value_name, "x": list(dates),
                                   "y": _clean(values), "line": {"color": WINDOW}}]
    if threshold is not None:
        data.append({"type": "scatter", "mode": "lines", "name": "threshold", "x": list(dates),
                     "y": _clean(threshold), "line": {"color": THRESHOLD, "dash": "dot"}})
    layout: dict[str, Any] = {"title": {"text": title}, "xaxis": {"type": "date"},
                              "yaxis": {"rangemode": "tozero"}}
    if means is not None and any(m is not None for m in means):
        data.append({"type": "scatter", "mode": "lines", "name": "window mean", "x": list(dates),
                     "y": _clean(means), "yaxis": "y2", "line": {"color": REFERENCE, "width": 1}})
        layout["yaxis2"] = {"overlaying": "y", "side": "right", "showgrid": False}
    return _figure(div_id, data, layout, axis="date")


def performance_chart(div_id: str, metric: str, dates: Sequence[str], realized: Sequence[float | None],
                      interval: Sequence[tuple[float | None, float | None]], estimated: Sequence[float | None],
                      reference: float | None, coverage: Sequence[float | None],
                      reference_band: tuple[float | None, float | None] | None = None) -> str:
    """A metric over time: realized with its interval, the label-free estimate, the reference and its band,
    label coverage."""
    x = list(dates)
    lo, hi = _clean([i[0] for i in interval]), _clean([i[1] for i in interval])
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "x": x, "y": hi, "line": {"width": 0}, "showlegend": False,
         "hoverinfo": "skip", "connectgaps": False},
        {"type": "scatter", "mode": "lines", "x": x, "y": lo, "fill": "tonexty", "name": "realized interval",
         "fillcolor": "rgba(31,119,180,0.18)", "line": {"width": 0}, "hoverinfo": "skip"},
        {"type": "scatter", "mode": "lines+markers", "name": "realized", "x": x, "y": _clean(realized),
         "line": {"color": WINDOW}},
        {"type": "scatter", "mode": "lines+markers", "name": "estimated (no labels)", "x": x, "y": _clean(estimated),
         "line": {"color": ESTIMATE, "dash": "dash"}},
        {"type": "bar", "name": "label coverage", "x": x, "y": _clean(coverage), "yaxis": "y2",
         "marker": {"color": COVERAGE}, "opacity": 0.5, "hovertemplate": "%{y:.0%}"},
    ]
    if reference is not None and x:
        if reference_band and None not in reference_band:  # the reference's interval, widened by the tolerance
            lo_ref, hi_ref = reference_band
            data[:0] = [
                {"type": "scatter", "mode": "lines", "x": [x[0], x[-1]], "y": [hi_ref] * 2,
                 "line": {"width": 0}, "showlegend": False, "hoverinfo": "skip"},
                {"type": "scatter", "mode": "lines", "x": [x[0], x[-1]], "y": [lo_ref] * 2,
                 "fill": "tonexty", "fillcolor": "rgba(140,140,140,0.18)", "line": {"width": 0},
                 "name": "reference band", "hoverinfo": "skip"}]
        data.append({"type": "scatter", "mode": "lines", "name": "reference", "x": [x[0], x[-1]],
                     "y": [reference, reference], "line": {"color": REFERENCE, "dash": "dot"}})
    layout = {"title": {"text": f"{metric} over time"},
              "xaxis": {"type": "date"},
              "yaxis2": {"overlaying": "y", "side": "right", "range": [0, 1], "tickformat": ".0%",
                         "showgrid": False}}
    return _figure(div_id, data, layout, axis="date")


def spark_chart(div_id: str, title: str, dates: Sequence[str], values: Sequence[float | None]) -> str:
    """A small trend for the overview: one value per window on a dated axis."""
    data = [{"type": "scatter", "mode": "lines+markers", "x": list(dates), "y": _clean(values),
             "line": {"color": WINDOW}, "name": title}]
    return _figure(div_id, data, {"height": 120, "margin": {"l": 36, "r": 8, "t": 22, "b": 28},
                                  "title": {"text": title, "font": {"size": 11}}, "showlegend": False,
                                  "xaxis": {"type": "date"}}, axis="date")
