"""The HTML pages of /report: Driftline's own verdicts first, history and trends, then Evidently's.

Every value from a config or the data goes through html.escape: a feature may be named
<script>. Pages carry no JavaScript and no external assets.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from monitor.schema.summary import FeatureVerdict, RunSummary
from reports.charts import line_chart

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0} td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f5f5f5} .drift{background:#fde0dc;font-weight:600} .ok{color:#2a7d2a} .na{color:#888}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;color:#fff}
.b-drift{background:#c62828} .b-ok{background:#2e7d32} .b-na{background:#777} .b-warn{background:#ef6c00}
.note{color:#555;font-size:12px} .charts{display:flex;flex-wrap:wrap;gap:12px} nav a{margin-right:12px}
"""


def _e(v: Any) -> str:
    return escape(str(v), quote=True)


def _num(v: float | None, digits: int = 4) -> str:
    return "—" if v is None else f"{v:.{digits}g}"


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{_CSS}</style></head>"
            f"<body>{body}</body></html>")


def _status(v: FeatureVerdict) -> str:
    if v.status == "insufficient_data":
        return '<span class="badge b-na">insufficient data</span>'
    return '<span class="badge b-drift">drift</span>' if v.drifted else '<span class="badge b-ok">ok</span>'


def _verdict_rows(rows: Sequence[FeatureVerdict], s: RunSummary) -> str:
    out = []
    for v in rows:
        q = s.data_quality.get(v.name)
        dq = "" if q is None else (f"{q.null_rate:.1%} null, {q.out_of_range_rate:.1%} out of range"
                                   + (f", {q.unseen_categories} unseen: {', '.join(q.unseen_values)}"
                                      if q.unseen_categories else ""))
        others = ", ".join(f"{_e(k)} {_num(x, 3)}" for k, x in v.extra.items()
                           if k in ("psi", "ks", "jensenshannon", "chisquare"))
        if "spread" in v.extra:  # the spread test that shares the column's verdict
            flag = " (flagged on spread)" if v.extra.get("spread_flagged") else ""
            others = f"spread {_num(v.extra['spread'], 3)}, floor {_num(v.extra.get('spread_floor'), 3)}{flag}" + (
                f", {others}" if others else "")
        out.append(f"<tr class='{'drift' if v.drifted else ''}' data-feature='{_e(v.name)}'><td>{_e(v.name)}</td>"
                   f"<td>{_e(v.kind)}</td><td>{_e(v.statistic)}</td><td>{_num(v.value)}</td><td>{_num(v.threshold)}</td>"
                   f"<td>{_num(v.p_value, 3)}</td><td>{_status(v)}</td><td class=note>{_e(dq)}</td>"
                   f"<td class=note>{others}</td></tr>")
    return "".join(out)


def run_page(s: RunSummary, history: Sequence[RunSummary], *, evidently_url: str | None,
             open_incidents: Sequence[dict[str, Any]] = ()) -> str:
    """The page of one run: verdicts, data quality, performance, alerts, trends, and the report link."""
    head = (f"<nav><a href='/report?model={_e(s.model)}'>latest</a><a href='/runs?model={_e(s.model)}'>runs (JSON)</a></nav>"
            f"<h1>{_e(s.model)} — window {_e(s.window.start.isoformat())} → {_e(s.window.end.isoformat())}</h1>"
            f"<p>run <code>{_e(s.run_id)}</code> · {s.rows:,} rows · {s.rows_rejected:,} rejected rows · "
            f"drift share {s.drift_share:.0%} · dataset drift: "
            + ('<span class="badge b-drift">yes</span>' if s.dataset_drift else '<span class="badge b-ok">no</span>')
            + (f" · <span class='badge b-na'>{_e(s.status)}</span>" if s.status != "ok" else "") + "</p>")
    alerts = "".join(f"<li><b>{_e(a.severity)}</b> {_e(a.rule)}: {_e(a.message)}</li>" for a in s.alerts)
    incidents = "".join(f"<li>{_e(i.get('severity'))} {_e(i.get('rule'))} / {_e(i.get('subject'))}"
                        f" since {_e(i.get('opened_at'))}</li>" for i in open_incidents)
    cols = ("<tr><th>column</th><th>kind</th><th>statistic</th><th>value</th><th>threshold</th><th>p-value</th>"
            "<th>verdict</th><th>data quality</th><th>other statistics</th></tr>")
    extra_rows = [v for v in (s.prediction_drift, s.label_drift) if v is not None]
    verdicts = (f"<h2>Driftline verdicts (full window, SQL profile)</h2>"
                f"<table id=verdicts>{cols}{_verdict_rows(s.features, s)}{_verdict_rows(extra_rows, s)}</table>"
                "<p class=note>Verdicts come from the whole window's SQL profile: a feature drifts when the change "
                "exceeds its practical floor with the run's false-discovery rate controlled (see docs). "
                "The threshold is the value above which it is flagged at this window's size.</p>")
    mv = s.multivariate
    if mv and mv.get("auc") is not None:
        badge = '<span class="badge b-drift">drift</span>' if mv.get("drifted") else '<span class="badge b-ok">ok</span>'
        verdicts += (f"<p id=multivariate>Joint distribution (a classifier telling window rows from reference rows): "
                     f"AUC {_num(mv.get('auc'), 3)} [{_num(mv.get('ci_low'), 3)}, {_num(mv.get('ci_high'), 3)}], "
                     f"flagged above {_num(mv.get('threshold'), 3)} {badge}</p>")
    q = s.quality or {}
    problems = [c for c in q.get("checks", []) if c.get("status") == "problem"]
    items = "".join(f"<li><b>{_e(c['check'])}</b> {_e(c['subject'])}: {_e(c.get('detail', ''))}</li>" for c in problems)
    if q.get("added_columns"):
        items += f"<li>columns not in the reference (ignored): {_e(', '.join(q['added_columns']))}</li>"
    verdicts += ("<h2>Data quality</h2>" + (f"<ul id=quality>{items}</ul>" if items else
                 "<p id=quality>No data-quality problem: null, out-of-range and unseen rates, schema and volume "
                 "are as the reference implies.</p>") if q else "")
    perf = _performance(s)
    trends = _trends(s, history)
    report = (f"<h2>Evidently report</h2><p><a id=evidently href='{_e(evidently_url)}'>Open the Evidently report of this "
              f"run</a> <span class=note>(built on a bounded random sample of the window and of the reference, "
              f"for the visuals; its own drift tests are Evidently's defaults, not Driftline's verdicts)</span></p>"
              if evidently_url else "<h2>Evidently report</h2><p class=note>No report for this run.</p>")
    hist = _history(history)
    body = (head + (f"<h2>Alerts</h2><ul>{alerts}</ul>" if alerts else "")
            + (f"<h2>Open incidents</h2><ul>{incidents}</ul>" if incidents else "")
            + verdicts + perf + trends + report + hist)
    return _page(f"Driftline · {s.model}", body)


def _performance(s: RunSummary) -> str:
    perf, est = s.performance, s.estimated_performance
    if not perf and not est:
        return ""
    rows = []
    key = _key_class(s)
    metrics = (perf or {}).get("metrics", {}) if isinstance(perf, dict) else {}
    emetrics = (est or {}).get("metrics", {}) if isinstance(est, dict) else {}
    for name in sorted(set(metrics) | set(emetrics)):
        m, e = metrics.get(name, {}), emetrics.get(name, {})

        def cell(d: dict[str, Any]) -> str:
            if not d or d.get("value") is None:
                return "—"
            iv = d.get("interval") or [None, None]
            return f"{_num(d['value'], 3)} [{_num(iv[0], 3)}, {_num(iv[1], 3)}]"

        important = " data-important=1" if name.endswith(f"_{key}") else ""
        shown = f"<b>{_e(name)}</b> (important class)" if important else _e(name)
        rows.append(f"<tr{important}><td>{shown}</td><td>{cell(m)}</td><td>{_num(m.get('reference'), 3)}</td>"
                    f"<td>{_e(m.get('verdict', ''))}</td><td>{cell(e)}</td></tr>")
    cov = (perf or {}).get("coverage") if isinstance(perf, dict) else None
    note = ""
    if cov:
        note = (f"<p>Label coverage: {cov.get('labelled', 0):,} of {cov.get('predictions', 0):,} predictions "
                f"({cov.get('fraction', 0):.0%}) · status <b>{_e((perf or {}).get('status', ''))}</b></p>")
    return ("<h2>Model performance</h2>" + note +
            "<table id=performance><tr><th>metric</th><th>realized [interval]</th><th>reference</th><th>verdict</th>"
            "<th>estimated without labels [interval]</th></tr>" + "".join(rows) + "</table>"
            "<p class=note>The estimate (CBPE) assumes no concept drift: it is computed from the calibrated "
            "probabilities alone and cannot see a change in the relation between inputs and outcomes. A drop is "
            "a change beyond the metric's floor, tested with the window's and the reference's sampling "
            "errors.</p>" + _value_history(s))


def _key_class(s: RunSummary) -> int:
    """The important class (prediction.important_class), as the run's performance recorded it."""
    for perf in (s.performance, s.estimated_performance):
        if isinstance(perf, dict) and isinstance(perf.get("key_class"), int):
            return int(perf["key_class"])
    return 0


def _value_history(s: RunSummary) -> str:
    """How the window's realized values changed as its labels arrived (oldest first)."""
    if not s.performance_history or not isinstance(s.performance, dict):
        return ""
    key = _key_class(s)
    names = (f"recall_{key}", "accuracy")
    rows = []
    for h in [*s.performance_history, s.performance]:
        cov = (h.get("coverage") or {}).get("fraction")
        cells = "".join(f"<td>{_num(((h.get('metrics') or {}).get(n) or {}).get('value'), 3)} "
                        f"{_e(((h.get('metrics') or {}).get(n) or {}).get('verdict', ''))}</td>" for n in names)
        rows.append(f"<tr><td>{_e(h.get('computed_at', ''))}</td><td>{_num(cov, 2)}</td>"
                    f"<td>{_e(h.get('status', ''))}</td>{cells}</tr>")
    return ("<h3>As the labels arrived</h3><table id=performance-history><tr><th>computed at</th><th>coverage</th>"
            f"<th>status</th>{''.join(f'<th>{_e(n)}</th>' for n in names)}</tr>{''.join(rows)}</table>")


def _trends(s: RunSummary, history: Sequence[RunSummary]) -> str:
    runs = sorted([*history, s], key=lambda r: r.window.start)[-60:]
    labels = [r.window.start.strftime("%Y-%m-%d %H:%M") for r in runs]
    charts = [line_chart(list(zip(labels, [r.drift_share for r in runs])), title="drift share", y_min=0.0)]
    for f in s.features:
        vals, ths = [], []
        for r in runs:
            v = next((x for x in r.features if x.name == f.name), None)
            vals.append(v.value if v else None)
            ths.append(v.threshold if v else None)
        charts.append(line_chart(list(zip(labels, vals)), threshold=ths, title=f"{f.name} · {f.statistic}", y_min=0.0))
    for metric in (f"recall_{_key_class(s)}", "accuracy", "roc_auc"):
        vals, band, est = [], [], []
        for r in runs:
            m = ((r.performance or {}).get("metrics") or {}).get(metric) or {}
            e = ((r.estimated_performance or {}).get("metrics") or {}).get(metric) or {}
            iv = m.get("interval") or [None, None]
            vals.append(m.get("value"))
            band.append((iv[0], iv[1]))
            est.append(e.get("value"))
        if any(v is not None for v in vals + est):
            charts.append(line_chart(list(zip(labels, vals)), band=band, threshold=est,
                                     title=f"{metric}: realized (blue, interval) vs estimated (red)"))
    return ("<h2>Trends</h2><p class=note>Blue: the statistic per run; red dashed: its threshold "
            "(for performance: the label-free estimate).</p>"
            f"<div class=charts id=trends>{''.join(charts)}</div>")


def _history(history: Sequence[RunSummary]) -> str:
    rows = "".join(
        f"<tr><td><a href='/report/{_e(r.run_id)}'>{_e(r.window.start.isoformat())}</a></td><td>{r.rows:,}</td>"
        f"<td>{r.drift_share:.0%}</td><td>{', '.join(_e(f.name) for f in r.features if f.drifted) or '—'}</td>"
        f"<td>{len(r.alerts)}</td></tr>" for r in history)
    return ("<h2>History</h2><table id=history><tr><th>window</th><th>rows</th><th>drift share</th><th>drifted</th>"
            f"<th>alerts</th></tr>{rows}</table>" if rows else "")


def index_page(latest: Sequence[RunSummary]) -> str:
    """Several models: one line each, linking to their latest run."""
    rows = "".join(f"<tr><td><a href='/report/{_e(s.run_id)}'>{_e(s.model)}</a></td><td>{_e(s.window.end.isoformat())}</td>"
                   f"<td>{s.drift_share:.0%}</td><td>{len(s.alerts)}</td></tr>" for s in latest)
    return _page("Driftline", "<h1>Driftline</h1><table><tr><th>model</th><th>latest window end</th>"
                 f"<th>drift share</th><th>alerts</th></tr>{rows}</table>")


def empty_page(model: str | None) -> str:
    return _page("Driftline", f"<h1>Driftline</h1><p>No runs yet{(' for ' + _e(model)) if model else ''}. "
                 "Trigger one with <code>POST /run</code> or <code>driftline run</code>.</p>")
