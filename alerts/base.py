"""Small interfaces of the alerting side: a message and a notifier that delivers one; metric points and their sink."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

Severity = Literal["info", "warn", "critical", "resolved"]


@dataclass(frozen=True)
class Message:
    """One notification, independent of the channel that will render it."""

    model: str
    severity: Severity
    rule: str  # e.g. "feature_drift", "dataset_drift", "data_quality"
    subject: str  # what the rule is about, e.g. a feature name, or "dataset"
    headline: str  # one line, no secrets
    lines: tuple[str, ...] = ()  # details: "force_z PSI 0.42 > 0.25"
    run_id: str = ""
    report_url: str = ""
    idempotency_key: str = ""  # (run, rule, subject, channel) -> delivered at most once
    extra: dict[str, str] = field(default_factory=dict)


class Notifier(Protocol):
    """Delivers one message on one channel; raises NotifierRetryable or NotifierRejected."""

    name: str

    def send(self, message: Message) -> None: ...


@dataclass(frozen=True)
class MetricPoint:
    """One gauge value of one run, e.g. driftline drift_share{model, model_version} = 0.375."""

    name: str  # custom.googleapis.com/driftline/<name>, driftline_<name> in Prometheus
    value: float
    labels: tuple[tuple[str, str], ...]  # sorted (key, value) pairs, model and model_version included
    value_type: Literal["DOUBLE", "INT64"] = "DOUBLE"


class MetricsSink(Protocol):
    """Writes one run's metric points; raises NotifierRetryable or NotifierRejected."""

    name: str

    def write(self, points: Sequence[MetricPoint], end_time: datetime) -> None: ...
