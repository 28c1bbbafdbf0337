"""The one entry point a run calls: evaluate the rules, inhibit and silence, step the incidents, group the
run's news into one message per channel, fill and flush the outbox."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel

from alerts.base import Message, MetricPoint, MetricsSink, Notifier
from alerts.grouping import QUALITY_RULES, group_message, incident_key
from alerts.incidents import Transition, step
from alerts.metrics import points_for
from alerts.outbox import Sender, enqueue, flush
from alerts.routing import channels_for
from alerts.rules import Finding, evaluate, persisted_severity
from alerts.suppress import Suppressed, inhibitions, silence_for
from monitor.config.alerts import AlertsConfig, RuleBase
from monitor.schema.alerting import AlertState, Delivery, Incident
from monitor.schema.summary import AlertEntry, RunSummary

_QUALITY_RULES = QUALITY_RULES


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
    suppressed: list[Suppressed] = field(default_factory=list)  # evaluated and stored, not sent

    def suppressed_extra(self) -> list[dict[str, str]]:
        """For RunSummary.extra['suppressed']: inhibited and silenced alerts, with why, who and until when."""
        return [s.model_dump() for s in self.suppressed]

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


def ack_link(summary: RunSummary, report_base_url: str) -> str:
    """The absolute link to the model's acknowledge page, or '' without an absolute base URL."""
    from urllib.parse import quote

    base = report_link(summary, report_base_url)
    if not base.startswith(("http://", "https://")):
        return ""
    root = base.split("/report/")[0] if "/report/" in base else report_base_url.rstrip("/")
    return f"{root}/ack?model={quote(summary.model)}"


def expand_channels(names: Sequence[str], available: Sequence[str]) -> list[str]:
    """Channel names of a rule mapped to configured notifiers ('sms' -> 'sms:1', 'sms:2')."""
    out = []
    for name in names:
        out += [a for a in available if a == name or a.startswith(name + ":")]
    return list(dict.fromkeys(out))


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
    notify: bool = True,
    only: Sequence[str] | None = None,
    hold: Held | None = None,
    carry: Held | None = None,
    send: bool = True,
) -> AlertOutcome:
    """Alerts and metrics for one persisted run; history is the model's earlier summaries, newest first.

    With notify=False (a backfill) incidents are stepped and stored but nothing is enqueued or sent.
    `only` limits the rules (a past window re-scored for late labels: its performance); it writes no metrics.
    `hold` keeps such a window's transitions and incidents for the next call, whose `carry` sends them
    in its own message (one message per run) and saves them after its outbox rows, as it does its own.
    send=False: the rows are enqueued, not sent; the run saves itself first, then calls `flush_outbox`.
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
        quality = [line for name in _QUALITY_RULES if getattr(config, name).enabled
                   for f in evaluate(name, getattr(config, name), summary).values() if f.level
                   for line in f.lines]
        evaluated = [(name, rule, finding) for name, rule in config.rules().items()
                     if only is None or name in only
                     for finding in persisted_severity(name, rule, summary, earlier).values()]
        # Incidents stepped by held windows are not saved yet: later steps start from them, not from the store.
        unsaved = [*(hold.changed if hold else []), *(carry.changed if carry else [])]
        routed = _step_all(summary, evaluated, state, key, end, now, outcome, changed, past=only is not None,
                           unsaved=unsaved)
        if hold is not None:
            hold.routed += routed
            hold.changed += changed
            return outcome
        if carry is not None:
            routed = carry.routed + routed
            changed = carry.changed + changed
            carry.routed, carry.changed = [], []
        by_channel: dict[str, list[Transition]] = {}
        for transition, rule in routed:
            for channel in expand_channels(channels_for(config, rule, transition, summary), list(notifiers)):
                by_channel.setdefault(channel, []).append(transition)
        # A re-scored past window has its own key, one per label coverage: its first run's message is another
        late = "" if only is None else "|late:" + ",".join(sorted(only)) + ":" + json.dumps(
            (summary.performance or {}).get("coverage"), sort_keys=True, default=str)
        for channel, transitions in by_channel.items() if notify else ():
            message = group_message(transitions, summary, link, quality, ack_link(summary, report_base_url))
            payload = dataclasses.replace(message, idempotency_key=f"{key}|run{late}|{channel}")
            rows.append(Delivery(
                key=payload.idempotency_key, model=summary.model, run_key=key, rule=message.rule,
                subject=message.subject, channel=channel, severity=message.severity,
                payload=json.dumps(dataclasses.asdict(payload)), window_end=end,
                position=len(rows), created_at=now,
            ))
    if metrics is not None and notify and only is None:
        rows.append(Delivery(
            key=f"{key}|metrics|-|{metrics.name}", model=summary.model, run_key=key, rule="metrics",
            subject="-", channel=metrics.name, severity="info",
            payload=_points_payload(points_for(summary), end), window_end=end, position=len(rows),
            created_at=now,
        ))
    # outbox first: if the run dies before the incidents are saved, its retry enqueues the same keys
    enqueue(state, rows)
    state.save_incidents(changed)
    if not notify or not send:
        return outcome
    flushed = flush_outbox(summary.model, config, state, notifiers, metrics, now)
    outcome.delivered, outcome.pending, outcome.failed = flushed.delivered, flushed.pending, flushed.failed
    return outcome


def flush_outbox(model: str, config: AlertsConfig, state: AlertState, notifiers: Mapping[str, Notifier],
                 metrics: MetricsSink | None, now: datetime, *, only: Collection[str] | None = None) -> AlertOutcome:
    """Sends a model's due pending rows (every run does, a new window or not); what was delivered, is
    pending and was given up on in this pass."""
    senders = {name: _sender_for_notifier(n) for name, n in notifiers.items()}
    if metrics is not None:
        senders[metrics.name] = _sender_for_metrics(metrics)
    result = flush(state, model, senders, config.outbox, utc(now), only=only)
    return AlertOutcome(delivered=[_report(r) for r in result.delivered],
                        pending=[_report(r) for r in result.pending], failed=[_report(r) for r in result.failed])


@dataclass
class Held:
    """Transitions (with their rules) and incidents of re-scored past windows, waiting for the run's message."""

    routed: list[tuple[Transition, RuleBase]] = field(default_factory=list)
    changed: list[Incident] = field(default_factory=list)


def _step_all(summary: RunSummary, evaluated: Sequence[tuple[str, RuleBase, Finding]], state: AlertState,
              key: str, end: datetime, now: datetime, outcome: AlertOutcome,
              changed: list[Incident], *, past: bool = False,
              unsaved: Sequence[Incident] = ()) -> list[tuple[Transition, RuleBase]]:
    """Steps every incident the run's findings touch; the transitions to send, each with its rule.

    `past`: a window re-scored for late labels, whose alerts list only what is news (its transitions).
    """
    known = {(i.rule, i.subject): i for i in state.incidents(summary.model)}
    known.update({(i.rule, i.subject): i for i in unsaved})
    inhibited = inhibitions(summary, {(n, f.subject): f for n, _, f in evaluated})
    silences = state.silences(summary.model)
    routed: list[tuple[Transition, RuleBase]] = []
    for name, rule, finding in evaluated:
        subject = finding.subject
        if finding.level and not past:
            outcome.alerts.append(AlertEntry(severity=finding.level, rule=name, message=finding.headline))
        reason = inhibited.get((name, subject))
        if reason:
            # left as it was: an incident neither opens nor resolves on what it cannot trust
            outcome.suppressed.append(Suppressed(rule=name, subject=subject, severity=finding.level or "ok",
                                                 state="inhibited", reason=reason, message=finding.headline))
            continue
        before = known.get((name, subject))
        after, transition = step(before, finding, model=summary.model, window_end=end, run_key=key,
                                 cooldown=rule.cooldown)
        fresh = after is not None and after != before
        silence = silence_for(finding, silences, summary, now) if fresh else None
        if (transition is None and fresh and before is not None and before.silenced and silence is None
                and after is not None and after.status == "open"):
            # the silence ended while the condition holds: one message says so
            after = dataclasses.replace(after, last_notified_at=end, last_notified_severity=after.severity)
            transition = Transition("unsilence", after.severity, after, finding)
        if transition is not None and transition.kind == "resolve":
            outcome.alerts.append(AlertEntry(severity="resolved", rule=name, message=f"{subject}: back to normal"))
        muted = silence is not None and finding.level is not None  # an incident's end is not muted
        if muted and silence is not None:
            outcome.suppressed.append(Suppressed(
                rule=name, subject=subject, severity=finding.level or "ok", state="silenced", reason=silence.reason,
                by=silence.created_by, until=silence.ends_at.isoformat(), message=finding.headline))
        if transition is not None and after is not None:
            if transition.kind == "resolve" and before is not None and before.silenced:
                transition = None  # never announced, so its end is no news either
            elif muted and silence is not None:
                after = dataclasses.replace(after, silenced=silence.id)
                transition = None
            else:
                # an announced incident's resolve goes out even inside a silence, so PagerDuty can close it
                after = dataclasses.replace(after, silenced="")
        if after is not None and after != before:
            changed.append(after)
        if transition is not None:
            if past and transition.kind != "resolve":
                outcome.alerts.append(AlertEntry(severity=transition.severity, rule=name, message=finding.headline))
            outcome.transitions.append(transition)
            routed.append((transition, rule))
    return routed


ACK_CHANNELS = ("pagerduty",)  # channels that keep an incident's state of their own


def notify_acknowledged(incident: Incident, config: AlertsConfig, state: AlertState,
                        notifiers: Mapping[str, Notifier], now: datetime) -> AlertOutcome:
    """Tells the channels that track incidents (PagerDuty) that one was acknowledged, through the outbox."""
    rows = []
    for channel in [c for c in ACK_CHANNELS if c in notifiers]:
        key = f"ack|{incident_key(incident)}|{channel}"
        detail = f"{incident.rule.replace('_', ' ')} acknowledged by {incident.acknowledged_by}"
        message = Message(
            model=incident.model, severity="info", rule=incident.rule, subject=incident.subject,
            headline=f"Driftline {incident.model}: {detail}", idempotency_key=key,
            extra={"transition": "acknowledge", "incidents": json.dumps([{
                "rule": incident.rule, "subject": incident.subject, "kind": "acknowledge", "severity": "info",
                "detail": detail, "dedup_key": incident_key(incident)}])},
        )
        rows.append(Delivery(key=key, model=incident.model, run_key=f"ack@{now.isoformat()}", rule=incident.rule,
                             subject=incident.subject, channel=channel, severity="info",
                             payload=json.dumps(dataclasses.asdict(message)), window_end=incident.last_window_end,
                             position=0, created_at=now))
    enqueue(state, rows)
    acks = {n: notifiers[n] for n in ACK_CHANNELS if n in notifiers}
    return flush_outbox(incident.model, config, state, acks, None, now, only=set(acks))


def notify_message(message: Message, channels: Sequence[str], config: AlertsConfig, state: AlertState,
                   notifiers: Mapping[str, Notifier], now: datetime) -> AlertOutcome:
    """One message outside a run's grouping (a failed run) on some channels, through the outbox:
    keyed by the message's idempotency key, so telling it again enqueues nothing new."""
    now = utc(now)
    rows = [Delivery(key=f"{message.idempotency_key}|{channel}", model=message.model, run_key=message.idempotency_key,
                     rule=message.rule, subject=message.subject, channel=channel, severity=message.severity,
                     payload=json.dumps(dataclasses.asdict(message)), window_end=now, position=i, created_at=now)
            for i, channel in enumerate(channels)]
    enqueue(state, rows)
    return flush_outbox(message.model, config, state, {c: notifiers[c] for c in channels}, None, now,
                        only=set(channels))
