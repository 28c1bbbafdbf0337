"""How a run summary reads in a terminal: the `driftline run` table, sized to its contents."""

from __future__ import annotations

import sys

from monitor.schema.summary import RunSummary


def print_summary(s: RunSummary, out=None) -> None:  # type: ignore[no-untyped-def]
    """A run as a readable table: what changed in words first, then every column's verdict."""
    out = out or sys.stdout  # looked up per call: a redirected (or test-captured) stdout is honoured
    from reports.story import dataset_drift_reason, findings

    w = f"{s.window.start:%Y-%m-%d %H:%M} → {s.window.end:%Y-%m-%d %H:%M} UTC"
    print(f"\n{s.model}  {w}  rows={s.rows:,} rejected={s.rows_rejected:,}  "
          f"drift share={s.drift_share:.0%} dataset drift={'YES' if s.dataset_drift else 'no'}"
          + (f"  [{s.status}]" if s.status != "ok" else ""), file=out)
    for f in findings(s):
        print(f"  * {f.text}", file=out)
    print(f"  {dataset_drift_reason(s)}", file=out)
    rows = list(s.features) + [v for v in (s.prediction_drift, s.label_drift) if v is not None]
    mv = s.multivariate
    joint = mv is not None and mv.get("auc") is not None
    # Columns as wide as their longest entry: long feature names never run into the next column.
    name_w = max([len("column"), *(len(v.name) for v in rows), len("joint (AUC)") if joint else 0]) + 2
    stat_w = max([len("statistic"), *(len(v.statistic) for v in rows), len("classifier") if joint else 0]) + 2
    print(f"  {'column':<{name_w}}{'statistic':<{stat_w}}{'value':>9}{'threshold':>11}  verdict   data quality", file=out)
    for v in rows:
        q = s.data_quality.get(v.name)
        dq = ""
        if q is not None:
            bits = [f"{q.null_rate:.0%} null" if q.null_rate else "",
                    f"{q.out_of_range_rate:.0%} out of range" if q.out_of_range_rate else "",
                    f"{q.unseen_categories} unseen ({', '.join(q.unseen_values[:3])})" if q.unseen_categories else ""]
            dq = ", ".join(b for b in bits if b)
        verdict = "n/a" if v.status == "insufficient_data" else ("DRIFT" if v.drifted else "ok")
        value = "—" if v.value is None else f"{v.value:.3f}"
        print(f"  {v.name:<{name_w}}{v.statistic:<{stat_w}}{value:>9}{v.threshold:>11.3f}  {verdict:<9} {dq}", file=out)
    for c in (s.quality or {}).get("checks", []):
        if c.get("status") == "problem":
            print(f"  data quality: {c['check']} {c['subject']}: {c.get('detail', '')}", file=out)
    if mv and joint:
        print(f"  {'joint (AUC)':<{name_w}}{'classifier':<{stat_w}}{mv['auc']:>9.3f}{mv['threshold']:>11.3f}  "
              f"{'DRIFT' if mv['drifted'] else 'ok'}", file=out)
    for line in performance_lines(s):
        print(f"  {line}", file=out)
    for a in s.alerts:
        print(f"  alert [{a.severity}] {a.rule}: {a.message}", file=out)
    print(f"  report: {s.report_url}", file=out)


def performance_lines(s: RunSummary) -> list[str]:
    """The important class's recall and accuracy, realized and estimated, as the table prints them."""
    out = []
    for source, perf in (("realized", s.performance), ("estimated", s.estimated_performance)):
        if not isinstance(perf, dict) or not perf.get("metrics"):
            continue
        key = perf.get("key_class", 0)
        bits = []
        for name in (f"recall_{key}", "accuracy"):
            m = perf["metrics"].get(name) or {}
            if m.get("value") is not None:
                verdict = m.get("verdict", "")
                bits.append(f"{name} {m['value']:.3f} ({'DROP' if verdict == 'drop' else verdict})")
        status = perf.get("status") or "no labels yet"
        coverage = (perf.get("coverage") or {}).get("fraction")
        where = f"{status}, {coverage:.0%} labelled" if coverage is not None else status
        out.append(f"performance {source} [{where}; class {key} is important]: {', '.join(bits) or '—'}")
    return out
