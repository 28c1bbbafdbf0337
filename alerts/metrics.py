"""The metrics every run writes, by name: one list shared by Cloud Monitoring and Prometheus."""

from __future__ import annotations

from dataclasses import dataclass

from alerts.base import MetricPoint
from monitor.schema.summary import RunSummary

BASE_LABELS = ("model", "model_version")


@dataclass(frozen=True)
class MetricSpec:
    """What a metric means, its value type and its labels beyond model and model_version."""

    description: str
    value_type: str = "DOUBLE"
    labels: tuple[str, ...] = ()


METRICS: dict[str, MetricSpec] = {
    "drift_share": MetricSpec("Share of features whose drift test fired in the window."),
    "dataset_drift": MetricSpec("1 when the window's dataset drift verdict fired.", "INT64"),
    "feature_statistic": MetricSpec("Drift statistic of one feature.", labels=("feature", "statistic")),
    "feature_drifted": MetricSpec("1 when the feature's drift test fired.", "INT64", ("feature",)),
    "prediction_drift": MetricSpec("Drift statistic of the prediction column.", labels=("statistic",)),
    "label_drift": MetricSpec("Drift statistic of the label column.", labels=("statistic",)),
    "null_rate": MetricSpec("Share of NULL values of one feature.", labels=("feature",)),
    "out_of_range_rate": MetricSpec("Share of values outside the reference range.", labels=("feature",)),
    "rows": MetricSpec("Rows in the window.", "INT64"),
    "rows_rejected": MetricSpec("Rows rejected at ingestion.", "INT64"),
    "run_success": MetricSpec("1 when the run reached a verdict, 0 for insufficient data.", "INT64"),
    "performance": MetricSpec("A model performance metric, realized or estimated.", labels=("metric", "source")),
    "bytes_processed": MetricSpec("Bytes the run's queries processed (BigQuery's job statistics).", "INT64"),
    "alerts_undelivered": MetricSpec("The run's alerts not delivered: pending (retried) or failed (given up; "
                                     "`driftline outbox retry`).", "INT64", ("state",)),
}


def _point(name: str, value: float, base: dict[str, str], **labels: str) -> MetricPoint:
    spec = METRICS[name]
    return MetricPoint(name, float(value), tuple(sorted({**base, **labels}.items())), spec.value_type)  # type: ignore[arg-type]


def points_for(summary: RunSummary) -> list[MetricPoint]:
    """Every metric point of one run; each (name, labels) appears once."""
    base = {"model": summary.model, "model_version": summary.model_version or ""}
    points = [
        _point("drift_share", summary.drift_share, base),
        _point("dataset_drift", int(summary.dataset_drift), base),
        _point("rows", summary.rows, base),
        _point("rows_rejected", summary.rows_rejected, base),
        _point("run_success", int(summary.status == "ok"), base),
    ]
    deliveries = summary.extra.get("deliveries")
    if isinstance(deliveries, dict):  # known once the run's outbox pass is done (Prometheus; not the run's own points)
        for state in ("pending", "failed"):
            points.append(_point("alerts_undelivered", len(deliveries.get(state) or []), base, state=state))
    if isinstance(summary.extra.get("bytes_processed"), int):
        points.append(_point("bytes_processed", summary.extra["bytes_processed"], base))
    for v in summary.features:
        if v.value is not None:
            points.append(_point("feature_statistic", v.value, base, feature=v.name, statistic=v.statistic))
        points.append(_point("feature_drifted", int(v.drifted), base, feature=v.name))
    for name in ("prediction_drift", "label_drift"):
        verdict = getattr(summary, name)
        if verdict is not None and verdict.value is not None:
            points.append(_point(name, verdict.value, base, statistic=verdict.statistic))
    for feature, q in sorted(summary.data_quality.items()):
        points.append(_point("null_rate", q.null_rate, base, feature=feature))
        points.append(_point("out_of_range_rate", q.out_of_range_rate, base, feature=feature))
    for source, perf in (("realized", summary.performance), ("estimated", summary.estimated_performance)):
        important = f"recall_{(perf or {}).get('key_class', 0)}"
        for metric, m in sorted(((perf or {}).get("metrics") or {}).items()):
            if isinstance(m, dict) and isinstance(m.get("value"), (int, float)):
                points.append(_point("performance", m["value"], base, metric=metric, source=source))
                if metric == important:  # one series per model for the class that matters, whichever it is
                    points.append(_point("performance", m["value"], base, metric="recall_important", source=source))
        coverage = ((perf or {}).get("coverage") or {}).get("fraction")
        if source == "realized" and isinstance(coverage, (int, float)):
            points.append(_point("performance", coverage, base, metric="label_coverage", source=source))
    return points
