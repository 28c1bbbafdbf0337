"""The run page of /report: what changed in words first, then the evidence (verdicts, pictures, history).

Pages carry no external assets: charts are Plotly figures drawn by the package's own static plotly.min.js.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.config.defaults import ON_DEMAND_USD_PER_TIB
from monitor.schema.summary import FeatureVerdict, RunSummary
from reports.alert_states import deliveries_html, incidents_html, suppressed_html
from reports.charts import scripts
from reports.evidence import distributions, evidently_section, feature_link, performance_trends, trends
from reports.html import e, num, page
from reports.story import dataset_drift_reason, findings

_e, _num, _page = e, num, page


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
        out.append(f"<tr class='{'drift' if v.drifted else ''}' data-feature='{_e(v.name)}'><td>{feature_link(s.run_id, v.name)}</td>"
                   f"<td>{_e(v.kind)}</td><td>{_e(v.statistic)}</td><td>{_num(v.value)}</td><td>{_num(v.threshold)}</td>"
                   f"<td>{_num(v.p_value, 3)}</td><td>{_status(v)}</td><td class=note>{_e(dq)}</td>"
                   f"<td class=note>{others}</td>"
                   # what this window's size could have flagged at all (computed in monitor/drift/detectable.py)
                   f"<td class='note mdc'>{_e(v.min_detectable_text or '—')}</td></tr>")
    return "".join(out)


def _headline(s: RunSummary) -> str:
    items = "".join(f"<li class='sev-{e(f.kind)}{' severe' if f.severity >= 400 else ''}' data-subject='{e(f.subject)}' data-direction='{e(f.direction)}'>"
                    f"{e(f.text)}</li>" for f in findings(s))
    what = f"<ol id=headline>{items}</ol>" if items else "<p id=headline>Nothing changed: no drift, no data-quality " \
        "problem and no performance change in this window.</p>"
    return f"<h2>What changed</h2>{what}<p id=dataset-drift>{e(dataset_drift_reason(s))}</p>"


def _cost(s: RunSummary) -> str:
    """What the run's queries processed on BigQuery (DuckDB meters nothing: no line)."""
    scanned = s.extra.get("bytes_processed")
    if not isinstance(scanned, int) or scanned <= 0:
        return ""
    usd = scanned / 2**40 * ON_DEMAND_USD_PER_TIB
    return (f"<p id=cost>This run processed {scanned / 1e6:,.1f} MB on BigQuery (est. ${usd:,.4f} at on-demand "
            f"prices, ${ON_DEMAND_USD_PER_TIB:g} per TiB).</p>")


def run_page(s: RunSummary, history: Sequence[RunSummary], *, evidently_url: str | None,
             open_incidents: Sequence[dict[str, Any]] = (), evidently_error: str | None = None,
             evidently_pending: bool = False) -> str:
    """The page of one run: what changed in words, then the evidence: verdicts, pictures, performance, history."""
    head = (f"<nav><a href='/'>all models</a><a href='/report?model={_e(s.model)}'>latest</a>"
            f"<a href='/runs?model={_e(s.model)}'>runs (JSON)</a></nav>"
            f"<h1>{_e(s.model)} — window {s.window.start:%Y-%m-%d %H:%M} → {s.window.end:%Y-%m-%d %H:%M} UTC</h1>"
            f"<p>run <code>{_e(s.run_id)}</code> · {s.rows:,} rows · {s.rows_rejected:,} rejected rows · "
            f"drift share {s.drift_share:.0%} · dataset drift: "
            + ('<span class="badge b-drift">yes</span>' if s.dataset_drift else '<span class="badge b-ok">no</span>')
            + (f" · <span class='badge b-na'>{_e(s.status)}</span>" if s.status != "ok" else "")
            + (f" · <span id=reference-changed>reference last changed {_e(str(s.extra['reference_changed_at']))}</span>"
               if s.extra.get("reference_changed_at") else "") + "</p>"
            + _cost(s))
    alerts = "".join(f"<li><b>{_e(a.severity)}</b> {_e(a.rule)}: {_e(a.message)}</li>" for a in s.alerts)
    cols = ("<tr><th>column</th><th>kind</th><th>statistic</th><th>value</th><th>threshold</th><th>p-value</th>"
            "<th>verdict</th><th>data quality</th><th>other statistics</th><th>smallest detectable change</th></tr>")
    extra_rows = [v for v in (s.prediction_drift, s.label_drift) if v is not None]
    ranked = sorted(s.features, key=lambda v: (not v.drifted, -(v.value or 0) / (v.threshold or 1)))
    verdicts = (f"<h2>Driftline verdicts (full window, SQL profile)</h2>"
                f"<div class=scroll><table id=verdicts>{cols}{_verdict_rows(ranked, s)}{_verdict_rows(extra_rows, s)}"
                "</table></div>"
                "<p class=note>Most severe first. Verdicts come from the whole window's SQL profile: a feature drifts "
                "when the change exceeds its practical floor with the run's false-discovery rate controlled (see docs). "
                "The threshold is the value above which it is flagged at this window's size; the smallest detectable "
                "change is what this window's size lets the column flag half the time at the run's budget.</p>")
    mv = s.multivariate
    if mv and mv.get("auc") is not None:
        badge = '<span class="badge b-drift">drift</span>' if mv.get("drifted") else '<span class="badge b-ok">ok</span>'
        verdicts += (f"<p id=multivariate>Joint distribution (a classifier telling window rows from reference rows): "
                     f"AUC {_num(mv.get('auc'), 3)} [{_num(mv.get('ci_low'), 3)}, {_num(mv.get('ci_high'), 3)}], "
                     f"flagged above {_num(mv.get('threshold'), 3)} {badge}. <span class=note>It sees the columns "
                     f"together, so it can flag dataset drift when few or no single feature drifts; an AUC of 0.5 "
                     f"means it cannot tell the window from the reference.</span></p>")
    q = s.quality or {}
    problems = [c for c in q.get("checks", []) if c.get("status") == "problem"]
    items = "".join(f"<li><b>{_e(c['check'])}</b> {_e(c['subject'])}: {_e(c.get('detail', ''))}</li>" for c in problems)
    if q.get("added_columns"):
        items += f"<li>columns not in the reference (ignored): {_e(', '.join(q['added_columns']))}</li>"
    verdicts += ("<h2>Data quality</h2>" + (f"<ul id=quality>{items}</ul>" if items else
                 "<p id=quality>No data-quality problem: null, out-of-range and unseen rates, schema and volume "
                 "are as the reference implies.</p>") if q else "")
    perf = _performance(s)
    runs = sorted([*history, s], key=lambda r: r.window.start)[-60:]
    pictures = distributions(s) + trends(s, runs) + performance_trends(runs)
    body = (head + _headline(s) + (f"<h2>Alerts</h2><ul>{alerts}</ul>" if alerts else "")
            + incidents_html(open_incidents) + suppressed_html(s) + deliveries_html(s)
            + verdicts + perf + pictures + evidently_section(evidently_url, evidently_error, evidently_pending)
            + _history(history))
    return _page(f"Driftline · {s.model}", body, head=scripts())


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
