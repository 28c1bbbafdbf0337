"""The one entry point a run calls: evaluate the rules, step the incidents, fill and flush the outbox."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel

from alerts.base import Message, MetricPoint, MetricsSink, Notifier
from alerts.incidents import Transition, step
from alerts.metrics import points_for
from alerts.outbox import Sender, enqueue, flush
from alerts.rules import Finding, evaluate, persisted_severity
from monitor.config.alerts import AlertsConfig
from monitor.schema.alerting import AlertState, Delivery, Incident
from monitor.schema.summary import AlertEntry, RunSummary

_QUALITY_RULES = ("null_rate", "out_of_range_rate", "rejected_rows", "volume")
_WORDS = {"open": "", "escalate": "", "renotify": "still: ", "resolve": ""}


class DeliveryReport(BaseModel):
    """One outbox row as the run summary shows it (no payload, errors already redacted)."""

    channel: str
    rule: str
    subject: str
    severity: str
    attempts: int
    error: str = ""


@dataclass
class AlertOutcome:
    """What alerting did for one run: the summary's alert entries and the state of deliveries."""

    alerts: list[AlertEntry] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    delivered: list[DeliveryReport] = field(default_factory=list)
    pending: list[DeliveryReport] = field(default_factory=list)
    failed: list[DeliveryReport] = field(default_factory=list)

    def summary_extra(self) -> dict[str, list[dict[str, object]]]:
        """For RunSummary.extra['deliveries']: what is pending and what was given up on."""
        return {
            "pending": [d.model_dump() for d in self.pending],
            "failed": [d.model_dump() for d in self.failed],
        }


def utc(moment: datetime) -> datetime:
    """A datetime in UTC; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def run_key(summary: RunSummary) -> str:
    """The identity of a run for idempotency: the model and its window (a retry has the same one)."""
    w = summary.window
    return f"{summary.model}@{utc(w.start).isoformat()}/{utc(w.end).isoformat()}"


def report_link(summary: RunSummary, report_base_url: str) -> str:
    """The absolute link to the run's report page."""
    if summary.report_url.startswith(("http://", "https://")):
        return summary.report_url
    path = summary.report_url or f"/report/{summary.run_id}"
    return report_base_url.rstrip("/") + "/" + path.lstrip("/")


def expand_channels(names: Sequence[str], available: Sequence[str]) -> list[str]:
    """Channel names of a rule mapped to configured notifiers ('sms' -> 'sms:1', 'sms:2')."""
    out = []
    for name in names:
        out += [a for a in available if a == name or a.startswith(name + ":")]
    return list(dict.fromkeys(out))


def _message(t: Transition, summary: RunSummary, link: str, quality: Sequence[str]) -> Message:
    f = t.finding
    words = _WORDS[t.kind]
    label = f.rule.replace("_", " ")
    detail = f.headline if f.rule in ("feature_drift", "dataset_drift") else f.headline or label
    if t.kind == "resolve":
        detail = f"{label} back to normal" + (f" ({f.headline})" if f.headline else "")
    elif f.rule == "feature_drift":
        detail = f"feature drift, {detail}"
    extra = {"short": (words + (f.short or detail)) if t.kind != "resolve" else detail, "transition": t.kind}
    if quality and f.rule not in _QUALITY_RULES:
        extra["data_quality"] = "\n".join(quality)
    return Message(
        model=summary.model, severity=t.severity,  # type: ignore[arg-type]
        rule=f.rule, subject=f.subject,
        headline=f"Driftline {t.severity.upper()} {summary.model}: {words}{detail}",
        lines=f.lines if t.kind != "resolve" else (), run_id=summary.run_id, report_url=link, extra=extra,
    )


def _points_payload(points: Sequence[MetricPoint], end: datetime) -> str:
    return json.dumps({"end_time": end.isoformat(), "points": [dataclasses.asdict(p) for p in points]})


def _sender_for_notifier(notifier: Notifier) -> Sender:
    def send(row: Delivery) -> None:
        data = json.loads(row.payload)
        data["lines"] = tuple(data["lines"])
        notifier.send(Message(**data))

    return send


def _sender_for_metrics(sink: MetricsSink) -> Sender:
    def send(row: Delivery) -> None:
        data = json.loads(row.payload)
        points = [MetricPoint(p["name"], p["value"], tuple(tuple(kv) for kv in p["labels"]), p["value_type"])
                  for p in data["points"]]
        sink.write(points, datetime.fromisoformat(data["end_time"]))

    return send


def _report(row: Delivery) -> DeliveryReport:
    return DeliveryReport(channel=row.channel, rule=row.rule, subject=row.subject, severity=row.severity,
                          attempts=row.attempts, error=row.last_error)


def process_run(
    summary: RunSummary,
    history: Sequence[RunSummary],
    config: AlertsConfig,
    state: AlertState,
    notifiers: Mapping[str, Notifier],
    metrics: MetricsSink | None,
    report_base_url: str,
    *,
    clock: Callable[[], datetime] | None = None,
    only: Sequence[str] | None = None,
) -> AlertOutcome:
    """Alerts and metrics for one persisted run; history is the model's earlier summaries, newest first.

    `only` limits the rules (a past window re-scored for late labels: its performance); it writes no metrics.
    """
    now = utc((clock or (lambda: datetime.now(UTC)))())
    end = utc(summary.window.end)
    key = run_key(summary)
    link = report_link(summary, report_base_url)
    # a persisted run (or an older attempt of this window) must not count twice toward N of M
    earlier = [h for h in history if h.run_id != summary.run_id and utc(h.window.end) < end]
    outcome = AlertOutcome()
    rows: list[Delivery] = []
    changed: list[Incident] = []
    if config.enabled:
        known = {(i.rule, i.subject): i for i in state.incidents(summary.model)}
        quality = [line for name in _QUALITY_RULES if getattr(config, name).enabled
                   for f in evaluate(name, getattr(config, name), summary).values() if f.level
                   for line in f.lines]
        for name, rule in config.rules().items():
            if only is not None and name not in only:
                continue
            findings: dict[str, Finding] = persisted_severity(name, rule, summary, earlier)
            for subject, finding in findings.items():
                before = known.get((name, subject))
                after, transition = step(before, finding, model=summary.model, window_end=end,
                                         run_key=key, cooldown=rule.cooldown)
                if after is not None and after != before:
                    changed.append(after)
                if finding.level and only is None:
                    outcome.alerts.append(AlertEntry(severity=finding.level, rule=name, message=finding.headline))
                if transition is None:
                    continue
                if only is not None and transition.kind != "resolve":  # a past window: only what is news
                    outcome.alerts.append(AlertEntry(severity=transition.severity, rule=name, message=finding.headline))
                if transition.kind == "resolve":
                    outcome.alerts.append(AlertEntry(severity="resolved", rule=name,
                                                     message=f"{subject}: back to normal"))
                outcome.transitions.append(transition)
                message = _message(transition, summary, link, quality)
                channels = getattr(rule.channels, transition.severity)
                for channel in expand_channels(channels, list(notifiers)):
                    payload = dataclasses.replace(message, idempotency_key=f"{key}|{name}|{subject}|{channel}")
                    rows.append(Delivery(
                        key=payload.idempotency_key, model=summary.model, run_key=key, rule=name,
                        subject=subject, channel=channel, severity=transition.severity,
                        payload=json.dumps(dataclasses.asdict(payload)), window_end=end,
                        position=len(rows), created_at=now,
                    ))
    if metrics is not None and only is None:
        rows.append(Delivery(
            key=f"{key}|metrics|-|{metrics.name}", model=summary.model, run_key=key, rule="metrics",
            subject="-", channel=metrics.name, severity="info",
            payload=_points_payload(points_for(summary), end), window_end=end, position=len(rows),
            created_at=now,
        ))
    # outbox first: if the run dies before the incidents are saved, its retry enqueues the same keys
    enqueue(state, rows)
    state.save_incidents(changed)
    senders = {name: _sender_for_notifier(n) for name, n in notifiers.items()}
    if metrics is not None:
        senders[metrics.name] = _sender_for_metrics(metrics)
    result = flush(state, summary.model, senders, config.outbox, now)
    outcome.delivered = [_report(r) for r in result.delivered]
    outcome.pending = [_report(r) for r in result.pending]
    outcome.failed = [_report(r) for r in result.failed]
    return outcome
