"""Small interfaces of the alerting side: a message, and a notifier that delivers one."""

from __future__ import annotations

from dataclasses import dataclass, field
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
