"""`/report/{run_id}/feature/{name}`: one column's story: its distribution, history, data quality and alerts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.schema.summary import FeatureVerdict, RunSummary
from reports.charts import scripts
from reports.evidence import distributions, trends
from reports.html import e, num, page
from reports.story import describe_feature


def _verdict(r: RunSummary, name: str) -> FeatureVerdict | None:
    if name == "prediction":
        return r.prediction_drift
    if name == "label":
        return r.label_drift
    return next((v for v in r.features if v.name == name), None)


def _key(s: RunSummary, name: str) -> str:
    if name == "prediction" and s.prediction_drift is not None:
        return "__prediction" if s.prediction_drift.kind == "numerical" else "__predicted_class"
    return "__label" if name == "label" else name


def feature_page(s: RunSummary, name: str, history: Sequence[RunSummary],
                 open_incidents: Sequence[dict[str, Any]] = ()) -> str:
    """One column over the last windows up to this run: what changed, pictures, a table, its alerts."""
    runs = sorted({r.run_id: r for r in [*history, s]}.values(), key=lambda r: r.window.start)[-60:]
    v = _verdict(s, name)
    prof = (s.extra.get("profiles") or {}).get(_key(s, name))
    said = describe_feature(v, prof)[0] if v is not None and v.drifted else f"{name}: no drift in this window"
    rows = []
    for r in reversed(runs):
        rv = _verdict(r, name)
        if rv is None:
            continue
        q = r.data_quality.get(name)
        dq = "—" if q is None else f"{q.null_rate:.1%} null · {q.out_of_range_rate:.1%} out of range" + (
            f" · {q.unseen_categories} unseen ({', '.join(q.unseen_values[:3])})" if q.unseen_categories else "")
        rows.append(f"<tr class='{'drift' if rv.drifted else ''}'><td><a href='/report/{e(r.run_id)}'>"
                    f"{e(r.window.start.strftime('%Y-%m-%d %H:%M'))}</a></td><td>{e(rv.statistic)}</td>"
                    f"<td>{num(rv.value)}</td><td>{num(rv.threshold)}</td>"
                    f"<td>{'drift' if rv.drifted else ('n/a' if rv.status == 'insufficient_data' else 'ok')}</td>"
                    f"<td class=note>{e(dq)}</td><td class='note mdc'>{e(rv.min_detectable_text or '—')}</td></tr>")
    alerts = [(r, a) for r in runs for a in r.alerts if name in a.message or name in a.rule]
    alert_items = "".join(f"<li>{e(r.window.start.strftime('%Y-%m-%d'))} <b>{e(a.severity)}</b> {e(a.rule)}: "
                          f"{e(a.message)}</li>" for r, a in alerts)
    incidents = "".join(f"<li>{e(i.get('severity'))} {e(i.get('rule'))} since {e(i.get('opened_at'))}</li>"
                        for i in open_incidents if name in str(i.get("subject", "")))
    body = (f"<nav><a href='/'>all models</a><a href='/report/{e(s.run_id)}'>back to the run</a></nav>"
            f"<h1>{e(s.model)} · {e(name)}</h1><p id=feature-headline>{e(said)}</p>"
            + distributions(s, only=name) + trends(s, runs, only=name)
            + "<h2>History</h2><div class=scroll><table id=feature-history><tr><th>window</th><th>statistic</th>"
              "<th>value</th><th>threshold</th><th>verdict</th><th>data quality</th><th>smallest detectable change</th></tr>" + "".join(rows)
            + "</table></div>"
            + ("<h2>Alerts it raised</h2><ul id=feature-alerts>" + alert_items + "</ul>" if alert_items else "")
            + ("<h2>Open incidents</h2><ul>" + incidents + "</ul>" if incidents else ""))
    return page(f"Driftline · {s.model} · {name}", body, head=scripts())
