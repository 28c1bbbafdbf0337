"""The incident state machine: open, escalate warn->critical, re-notify after the cooldown, resolve.

An acknowledged incident is not re-notified (an escalation still is, and it still resolves).

One incident per (model, rule, subject). A run whose window ends no later than the newest
window an incident has seen is a retry (or out of order) and changes nothing, so a Cloud
Scheduler retry never notifies twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from alerts.rules import Finding
from monitor.schema.alerting import Incident

Kind = Literal["open", "escalate", "renotify", "resolve", "unsilence"]
_RANK = {None: 0, "warn": 1, "critical": 2}


@dataclass(frozen=True)
class Transition:
    """A change worth telling people about."""

    kind: Kind
    severity: str  # warn | critical | resolved
    incident: Incident
    finding: Finding


def step(
    incident: Incident | None,
    finding: Finding,
    *,
    model: str,
    window_end: datetime,
    run_key: str,
    cooldown: timedelta,
) -> tuple[Incident | None, Transition | None]:
    """The incident after one run's finding, and the transition to notify (if any)."""
    level = finding.level
    if incident is not None and window_end <= incident.last_window_end:
        return incident, None
    is_open = incident is not None and incident.status == "open"
    if not is_open:
        if level is None:
            return incident, None
        opened = Incident(
            model=model, rule=finding.rule, subject=finding.subject, status="open", severity=level,
            opened_at=window_end, last_notified_at=window_end, last_notified_severity=level,
            last_window_end=window_end, last_run_key=run_key,
        )
        return opened, Transition("open", level, opened, finding)
    assert incident is not None
    seen = replace(incident, last_window_end=window_end, last_run_key=run_key)
    if level is None:
        resolved = replace(seen, status="resolved", last_notified_at=window_end,
                           last_notified_severity="resolved")
        return resolved, Transition("resolve", "resolved", resolved, finding)
    if _RANK[level] > _RANK[incident.last_notified_severity if incident.last_notified_severity != "resolved"
                             else None]:
        # escalation is news: it does not wait for the cooldown
        escalated = replace(seen, severity=level, last_notified_at=window_end, last_notified_severity=level)
        return escalated, Transition("escalate", level, escalated, finding)
    if window_end - incident.last_notified_at >= cooldown and not incident.acknowledged_by:
        reminded = replace(seen, severity=level, last_notified_at=window_end, last_notified_severity=level)
        return reminded, Transition("renotify", level, reminded, finding)
    # a de-escalation is recorded silently; the next reminder carries the lower level
    return replace(seen, severity=level), None
