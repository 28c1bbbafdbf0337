"""The pictures under a run's headline: distributions, statistics over time, performance over time, Evidently.

All drawn from the run summaries' stored profile digests and verdicts: nothing here reads a row, so a
page's size depends on the number of features and windows shown, never on the rows in a window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from monitor.schema.summary import FeatureVerdict, RunSummary
from reports.charts import distribution_chart, performance_chart, trend_chart
from reports.html import e

PERFORMANCE_METRICS = ("accuracy", "roc_auc", "recall_{key}", "predicted_positive_rate")  # key: the important class


def _columns(s: RunSummary) -> list[tuple[str, str, FeatureVerdict]]:
    """(profile key, shown name, verdict) of every compared column, the prediction and label last."""
    out = [(v.name, v.name, v) for v in s.features]
    if s.prediction_drift is not None:
        key = "__prediction" if s.prediction_drift.kind == "numerical" else "__predicted_class"
        out.append((key, "prediction", s.prediction_drift))
    if s.label_drift is not None:
        out.append(("__label", "label", s.label_drift))
    return out


def _dates(runs: Sequence[RunSummary]) -> list[str]:
    return [r.window.start.strftime("%Y-%m-%dT%H:%M:%S") for r in runs]


def feature_link(run_id: str, name: str) -> str:
    """A column's name linking to its feature view."""
    return f"<a href='/report/{e(quote(run_id))}/feature/{e(quote(name, safe=''))}'>{e(name)}</a>"


def distributions(s: RunSummary, only: str | None = None) -> str:
    """Reference vs this window for each column (or one), from the stored digests."""
    profiles: dict[str, Any] = s.extra.get("profiles") or {}
    charts = []
    for i, (key, name, _v) in enumerate(_columns(s)):
        prof = profiles.get(key)
        if prof is None or prof.get("kind") not in ("numerical", "categorical") or (only and name != only):
            continue
        charts.append(f"<figure data-feature='{e(name)}' data-chart=distribution>"
                      f"{distribution_chart(f'dist-{i}', name, prof)}</figure>")
    if not charts:
        return ""
    return ("<h2>Distributions: reference vs this window</h2><p class=note>Grey: the reference; blue: this "
            "window, on the reference's own bins (red: values never seen in the reference).</p>"
            f"<div class=plots id=distributions>{''.join(charts)}</div>")


def _series(runs: Sequence[RunSummary], key: str, name: str) -> tuple[list[float | None], list[float | None],
                                                                     list[float | None]]:
    values, thresholds, means = [], [], []
    for r in runs:
        v = next((c[2] for c in _columns(r) if c[1] == name), None)
        values.append(v.value if v else None)
        thresholds.append(v.threshold if v else None)
        means.append(((r.extra.get("profiles") or {}).get(key) or {}).get("mean"))
    return values, thresholds, means


def trends(s: RunSummary, runs: Sequence[RunSummary], only: str | None = None) -> str:
    """Drift share, then each column's statistic over time with its threshold and the window's mean."""
    dates = _dates(runs)
    charts = []
    if only is None:
        charts.append(f"<figure data-chart=drift-share>{trend_chart('trend-share', 'drift share', dates, [r.drift_share for r in runs], value_name='share of features drifted')}</figure>")
    for i, (key, name, v) in enumerate(_columns(s)):
        if only and name != only:
            continue
        values, thresholds, means = _series(runs, key, name)
        charts.append(f"<figure data-feature='{e(name)}' data-chart=trend>"
                      + trend_chart(f"trend-{i}", f"{name} · {v.statistic} over time", dates, values,
                                    threshold=thresholds, value_name=v.statistic, means=means) + "</figure>")
    return ("<h2>Over time</h2><p class=note>Dates are window starts (UTC). Blue: the statistic per window; red dotted: its threshold; grey: "
            f"the window's mean.</p><div class=plots id=trends>{''.join(charts)}</div>")


def _reference_band(s: RunSummary, metric: str) -> tuple[float | None, float | None] | None:
    """The reference value's own interval, widened by the configured tolerance."""
    iv = (s.extra.get("reference_intervals") or {}).get(metric)
    if not iv or None in iv:
        return None
    tol = s.extra.get("performance_tolerance") or 0.0
    return iv[0] - tol, iv[1] + tol


def performance_trends(runs: Sequence[RunSummary]) -> str:
    """Each key metric over time: realized with interval, label-free estimate, reference, label coverage."""
    dates = _dates(runs)
    charts = []
    latest = runs[-1].performance if runs and isinstance(runs[-1].performance, dict) else {}
    key = int(latest.get("key_class", 0) or 0)  # prediction.important_class, as the run recorded it
    for j, metric in enumerate(m.format(key=key) for m in PERFORMANCE_METRICS):
        realized, band, est, cov = [], [], [], []
        reference = None
        for r in runs:
            perf = r.performance if isinstance(r.performance, dict) else {}
            m = (perf.get("metrics") or {}).get(metric) or {}
            x = ((r.estimated_performance or {}).get("metrics") or {}).get(metric) or {}
            iv = m.get("interval") or [None, None]
            realized.append(m.get("value"))
            band.append((iv[0], iv[1]))
            est.append(x.get("value"))
            cov.append((perf.get("coverage") or {}).get("fraction"))
            reference = m.get("reference", reference) if m.get("reference") is not None else reference
        if any(v is not None for v in realized + est):
            charts.append(f"<figure data-chart=performance data-metric='{e(metric)}'>"
                          + performance_chart(f"perf-{j}", metric, dates, realized, band, est, reference, cov,
                                              reference_band=_reference_band(runs[-1], metric))
                          + "</figure>")
    if not charts:
        return ""
    return ("<h2>Performance over time</h2><p class=note>Blue: realized from labels, with its interval; orange "
            "dashed: estimated from probabilities alone (CBPE, assumes no concept drift); grey dotted: the "
            "reference, in its band (its own interval, widened by the configured tolerance); bars: label "
            "coverage.</p>"
            f"<div class=plots id=performance-trends>{''.join(charts)}</div>")


def evidently_section(url: str | None, error: str | None = None, pending: bool = False) -> str:
    """Where the Evidently report fits, that it is being built, or why there is none."""
    intro = ("<p class=note>Evidently's own report, built on a bounded random sample of the window and of the "
             "reference. Its drift tests are Evidently's defaults on that sample, not Driftline's verdicts: where "
             "the two disagree, Driftline's come from the whole window's profile and its false-discovery control."
             "</p>")
    if url:
        return (f"<h2>Evidently's report (sampled)</h2><p><a id=evidently href='{e(url)}'>Open Evidently's report "
                f"of this run</a></p>{intro}")
    if pending:
        # Built after the run was stored, so the verdicts never wait for it; reload to get the link.
        return ("<h2>Evidently's report (sampled)</h2><p class=note id=evidently-pending>Evidently's report of "
                "this run is being built (it takes a few seconds to a minute); reload this page to open it. "
                "The verdicts above do not depend on it.</p>")
    reason = f"Evidently's report could not be built: {e(error)}" if error else (
        "No Evidently report for this run (report.evidently is off, the window had no rows, or it was a "
        "backfill run without --reports).")
    return f"<h2>Evidently's report (sampled)</h2><p class=note id=evidently-missing>{reason}</p>"
