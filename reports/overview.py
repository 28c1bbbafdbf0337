"""`/`: every watched model at a glance, its state, open incidents and a small trend, linking into its pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.schema.summary import RunSummary
from reports.alert_states import failed_count
from reports.charts import scripts, spark_chart
from reports.html import e, page

KEY_METRICS = ("roc_auc", "accuracy")
_BADGE = {"ok": "b-ok", "drift": "b-drift", "performance drop": "b-drift", "data problem": "b-warn",
          "no data": "b-na", "insufficient data": "b-na"}


@dataclass
class ModelRow:
    """What `/` knows of one model: its runs, newest last, and its open incidents."""

    model: str
    runs: Sequence[RunSummary] = ()
    open_incidents: Sequence[dict[str, Any]] = field(default_factory=list)


def status(s: RunSummary | None) -> str:
    """One word for a model's latest window, worst first: no data, performance drop, data problem, drift, ok."""
    if s is None or s.rows == 0:
        return "no data"
    perf = s.performance if isinstance(s.performance, dict) else {}
    if any(m.get("verdict") == "drop" for m in (perf.get("metrics") or {}).values()):
        return "performance drop"
    if any(c.get("status") == "problem" for c in (s.quality or {}).get("checks", [])):
        return "data problem"
    if s.status == "insufficient_data":
        return "insufficient data"
    return "drift" if s.dataset_drift or any(v.drifted for v in s.features) else "ok"


def key_metric(s: RunSummary) -> tuple[str, float | None, str]:
    """(metric, value, source): realized when labels allow, else the label-free estimate."""
    for source, block in (("realized", s.performance), ("estimated", s.estimated_performance)):
        metrics = (block or {}).get("metrics") or {} if isinstance(block, dict) else {}
        for name in KEY_METRICS:
            if (metrics.get(name) or {}).get("value") is not None:
                return name, metrics[name]["value"], source
    return "", None, ""


def _undelivered(s: RunSummary) -> str:
    n = failed_count(s)
    return f" <span class='badge b-warn' title='driftline outbox retry'>{n} alerts failed</span>" if n else ""


def overview_page(rows: Sequence[ModelRow]) -> str:
    """The models table, then for each model its drift share and key metric over its recent windows."""
    lines, trends = [], []
    for i, row in enumerate(rows):
        latest = row.runs[-1] if row.runs else None
        st = status(latest)
        badge = f"<span class='badge {_BADGE.get(st, 'b-na')}'>{e(st)}</span>"
        if latest is None:
            lines.append(f"<tr data-model='{e(row.model)}'><td>{e(row.model)}</td><td>—</td><td>{badge}</td>"
                         f"<td>{len(row.open_incidents)}</td><td>—</td><td>—</td><td>—</td><td>—</td></tr>")
            continue
        cov = ((latest.performance or {}).get("coverage") or {}).get("fraction") if isinstance(
            latest.performance, dict) else None
        metric, value, source = key_metric(latest)
        drifted = ", ".join(v.name for v in latest.features if v.drifted)
        lines.append(
            f"<tr data-model='{e(row.model)}' data-status='{e(st)}'>"
            f"<td><a href='/report/{e(latest.run_id)}'>{e(row.model)}</a></td>"
            f"<td>{e(latest.window.start.strftime('%Y-%m-%d %H:%M'))} → {e(latest.window.end.strftime('%m-%d %H:%M'))}</td>"
            f"<td>{badge}</td><td>{len(row.open_incidents)}{_undelivered(latest)}</td><td>{latest.rows:,}</td>"
            f"<td>{'—' if cov is None else f'{cov:.0%}'}</td>"
            f"<td>{e(metric)} {'' if value is None else f'{value:.3f}'} <span class=note>{e(source)}</span></td>"
            f"<td class=note>{e(drifted) or '—'}</td></tr>")
        dates = [r.window.start.strftime("%Y-%m-%dT%H:%M:%S") for r in row.runs]
        trends.append(f"<figure data-model='{e(row.model)}'>"
                      + spark_chart(f"spark-share-{i}", f"{row.model}: drift share", dates,
                                    [r.drift_share for r in row.runs]) + "</figure>")
        if metric:
            trends.append(f"<figure data-model='{e(row.model)}'>"
                          + spark_chart(f"spark-metric-{i}", f"{row.model}: {metric}", dates,
                                        [key_metric(r)[1] for r in row.runs]) + "</figure>")
    if not rows:
        body = "<h1>Driftline</h1><p>No models configured: add a model's YAML to the config folder.</p>"
        return page("Driftline", body)
    body = ("<h1>Driftline: watched models</h1><div class=scroll><table id=models><tr><th>model</th>"
            "<th>latest window (UTC)</th><th>status</th><th>open incidents</th><th>rows</th><th>label coverage</th>"
            "<th>key metric</th><th>drifted features</th></tr>" + "".join(lines) + "</table></div>"
            "<p class=note>Status is the latest window's worst finding: no data, performance drop, data problem, "
            "drift, ok.</p>"
            + (f"<h2>Recent windows</h2><div class=plots id=overview-trends>{''.join(trends)}</div>" if trends else ""))
    return page("Driftline", body, head=scripts())
