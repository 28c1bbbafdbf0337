"""What keeps a finding from being sent: inhibition (a broken pipeline, a critical over a warn) and silences.

Inhibition follows Alertmanager's: a volume or schema failure of a run means its drift and
performance cannot be trusted, so those findings are shown as inhibited and their incidents are
left as they were (nothing opens, nothing resolves on broken data); a critical finding inhibits
a warn of the same subject (the dataset's drift, one feature, one metric). A silence mutes the
alerts it matches until it ends: they are still evaluated and stored, but not sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from pydantic import BaseModel

from alerts.grouping import DRIFT_RULES, QUALITY_RULES
from alerts.rules import Finding
from monitor.config.alerts import RULE_NAMES
from monitor.errors import ConfigError
from monitor.schema.alerting import AlertState, Incident, Silence
from monitor.schema.summary import RunSummary

BROKEN_PIPELINE_INHIBITS = (*DRIFT_RULES, "performance")
_AGGREGATE = ("features", "dataset")  # subjects of the dataset-wide drift rules


class Suppressed(BaseModel):
    """A finding that was evaluated and stored but not sent, and why (the page shows these)."""

    rule: str
    subject: str
    severity: str  # warn | critical | resolved | ok
    state: str  # inhibited | silenced
    reason: str
    by: str = ""
    until: str = ""
    message: str = ""


def pipeline_failure(summary: RunSummary, findings: Mapping[tuple[str, str], Finding]) -> str:
    """Why a run's drift and performance cannot be trusted (a volume or schema failure), or ''."""
    for (rule, _), f in findings.items():
        if rule in ("volume", "schema") and f.level:
            return f"{rule} failure: {f.headline}"
    bad = [c for c in (summary.quality or {}).get("checks", [])
           if c.get("check") == "schema" and c.get("status") == "problem"]
    if bad:
        return "schema failure: " + "; ".join(f"{c.get('subject')} {c.get('detail', '')}".strip() for c in bad[:3])
    return ""


def _subject_key(rule: str, subject: str) -> tuple[str, str]:
    if rule in DRIFT_RULES:
        return "drift", "dataset" if subject in _AGGREGATE else subject
    return ("quality" if rule in QUALITY_RULES else rule), subject


def inhibitions(summary: RunSummary, findings: Mapping[tuple[str, str], Finding]) -> dict[tuple[str, str], str]:
    """The inhibited (rule, subject) pairs of one run, each with its reason."""
    out: dict[tuple[str, str], str] = {}
    broken = pipeline_failure(summary, findings)
    if broken:
        out.update({k: f"inhibited by the {broken}" for k in findings if k[0] in BROKEN_PIPELINE_INHIBITS})
    critical = {_subject_key(*k): k[0] for k, f in findings.items() if f.level == "critical"}
    for k, f in findings.items():
        by = critical.get(_subject_key(*k))
        if f.level == "warn" and k not in out and by is not None and by != k[0]:
            out[k] = f"inhibited by the critical {by.replace('_', ' ')} of the same subject"
    return out


def silence_for(finding: Finding, silences: Sequence[Silence], summary: RunSummary, at: datetime) -> Silence | None:
    """The active silence that mutes a finding, if any; a dataset-wide drift is muted when every
    drifted feature is."""
    active = [s for s in silences if s.active(at) and s.rule in ("", finding.rule)]
    for s in active:
        if s.subject in ("", finding.subject):
            return s
    if finding.rule in DRIFT_RULES and finding.subject in _AGGREGATE:
        by_feature = {s.subject: s for s in active if s.subject}
        drifted = sorted(v.name for v in summary.features if v.drifted)
        if drifted and set(drifted) <= set(by_feature):
            return by_feature[drifted[0]]
    return None


def add_silence(state: AlertState, model: str, *, duration: timedelta, reason: str, by: str, now: datetime,
                rule: str = "", subject: str = "") -> Silence:
    """A new silence from now for `duration`; a reason is required (the page shows it)."""
    if not reason.strip():
        raise ConfigError("a silence needs a reason (--reason), so whoever sees it knows why")
    if rule and rule not in RULE_NAMES:
        raise ConfigError(f"unknown alert rule {rule!r}; known rules: {sorted(RULE_NAMES)}")
    if duration <= timedelta(0):
        raise ConfigError("a silence needs a positive duration (--for 3d)")
    silence = Silence(id=uuid.uuid4().hex[:12], model=model, rule=rule, subject=subject, starts_at=now,
                      ends_at=now + duration, reason=reason.strip(), created_by=by or "unknown", created_at=now)
    state.save_silence(silence)
    return silence


def expire_silence(state: AlertState, model: str, silence_id: str, now: datetime) -> Silence | None:
    """Ends a silence now; None when the model has no silence of that id."""
    for s in state.silences(model):
        if s.id == silence_id:
            ended = replace(s, ends_at=min(s.ends_at, now))
            state.save_silence(ended)
            return ended
    return None


def silence_view(s: Silence, now: datetime) -> dict[str, object]:
    """A silence as the CLI and the API show it."""
    return {"id": s.id, "model": s.model, "rule": s.rule or "*", "subject": s.subject or "*",
            "starts_at": s.starts_at.isoformat(), "ends_at": s.ends_at.isoformat(), "reason": s.reason,
            "created_by": s.created_by, "active": s.active(now)}


def acknowledge(state: AlertState, model: str, rule: str, subject: str | None, *, by: str, now: datetime) -> Incident:
    """Marks an open incident acknowledged: no more reminders, but an escalation and its resolve are still sent.
    Without a subject, the rule's only open incident."""
    open_ = [i for i in state.incidents(model) if i.status == "open"]
    match = [i for i in open_ if i.rule == rule and (subject is None or i.subject == subject)]
    if len(match) != 1:
        known = sorted(f"{i.rule}/{i.subject}" for i in open_)
        raise ConfigError(f"no single open incident {rule}/{subject or '*'} of {model!r}; open: {known}")
    acked = replace(match[0], acknowledged_by=by or "unknown", acknowledged_at=now)
    state.save_incidents([acked])
    return acked
