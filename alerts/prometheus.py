"""The run metrics as Prometheus text (GET /metrics), named like the Cloud Monitoring ones."""

from __future__ import annotations

from collections.abc import Iterable

from alerts.metrics import METRICS, points_for
from monitor.schema.summary import RunSummary

PREFIX = "driftline_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_prometheus(latest: Iterable[RunSummary]) -> str:
    """Prometheus exposition text of each model's latest run summary."""
    by_name: dict[str, list[str]] = {name: [] for name in METRICS}
    for summary in latest:
        for p in points_for(summary):
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in p.labels)
            value = repr(int(p.value)) if p.value_type == "INT64" else repr(p.value)
            by_name[p.name].append(f"{PREFIX}{p.name}{{{labels}}} {value}")
    out: list[str] = []
    for name, samples in by_name.items():
        if not samples:
            continue
        out.append(f"# HELP {PREFIX}{name} {METRICS[name].description}")
        out.append(f"# TYPE {PREFIX}{name} gauge")
        out.extend(samples)
    return "\n".join(out) + "\n"
