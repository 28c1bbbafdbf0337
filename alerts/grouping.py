"""One message per model per run and channel: every transition of the run in one notification, led by the most severe.

Alertmanager's grouping, with the group being (model, run): the headline is the most severe
transition's, the lines list the others, the drifted features with direction and size
("fz_mean up 1.5 std", "tire_type: new value R18-eco, 6% of rows") and the report link.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from alerts.base import Message
from alerts.incidents import Transition
from alerts.rules import fmt
from monitor.schema.alerting import Incident
from monitor.schema.summary import FeatureVerdict, RunSummary

DRIFT_RULES = ("feature_drift", "dataset_drift", "prediction_drift", "label_drift")
QUALITY_RULES = ("null_rate", "out_of_range_rate", "rejected_rows", "volume")
_RANK = {"critical": 3, "warn": 2, "resolved": 1}
_WORDS = {"open": "", "escalate": "", "renotify": "still: ", "resolve": "", "unsilence": "no longer silenced, still: "}


def _size(v: FeatureVerdict) -> float:
    return abs(v.value or 0.0) / (v.threshold or 1.0)


def describe_feature(v: FeatureVerdict, summary: RunSummary) -> str:
    """One drifted feature as people read it: its direction and size, a new category, or its statistic."""
    shift = v.extra.get("shift_std")
    if v.kind == "numerical" and isinstance(shift, (int, float)) and shift:
        return f"{v.name} {'up' if shift > 0 else 'down'} {abs(shift):.2g} std"
    q = summary.data_quality.get(v.name)
    if q is not None and q.unseen_values and summary.rows:
        share = q.unseen_categories / summary.rows
        return f"{v.name}: new value {', '.join(q.unseen_values[:2])}, {share:.0%} of rows"
    statistic = v.statistic.upper() if len(v.statistic) <= 4 else v.statistic
    return f"{v.name} {statistic} {fmt(v.value)} > {fmt(v.threshold)}"


def feature_changes(summary: RunSummary, top: int = 5) -> list[str]:
    """The run's drifted features, largest first, and the joint-distribution classifier when it fired."""
    drifted = sorted((v for v in summary.features if v.drifted), key=lambda v: -_size(v))
    out = [describe_feature(v, summary) for v in drifted[:top]]
    if len(drifted) > top:
        out.append(f"+{len(drifted) - top} more drifted features")
    mv = summary.multivariate or {}
    if mv.get("drifted"):
        out.append(f"joint distribution changed: classifier AUC {fmt(mv.get('auc'))} > {fmt(mv.get('threshold'))}")
    return out


def detail(t: Transition) -> str:
    """What one transition says, without the severity and model."""
    f = t.finding
    label = f.rule.replace("_", " ")
    if t.kind == "resolve":
        return f"{label} back to normal" + (f" ({f.headline})" if f.headline else "")
    text = f.headline if f.rule in ("feature_drift", "dataset_drift") else f.headline or label
    return f"feature drift, {text}" if f.rule == "feature_drift" else text


def dedup_key(model: str, t: Transition) -> str:
    """The incident's identity outside Driftline (PagerDuty's dedup_key): the same from trigger to resolve."""
    return incident_key(t.incident)


def incident_key(i: Incident) -> str:
    """dedup_key of one incident: model, rule, subject and when it opened."""
    return f"driftline/{i.model}/{i.rule}/{i.subject}/{i.opened_at.isoformat()}"


def ordered(transitions: Sequence[Transition]) -> list[Transition]:
    """Most severe first; ties keep the rules' order."""
    return sorted(transitions, key=lambda t: -_RANK.get(t.severity, 0))


def group_message(transitions: Sequence[Transition], summary: RunSummary, link: str,
                  quality: Sequence[str], ack_url: str = "") -> Message:
    """The one message of a run for one channel, from the transitions routed to that channel; ack_url is
    the confirm page an "Acknowledge" button leads to while something fires."""
    ts = ordered(transitions)
    lead = ts[0]
    more = f" (+{len(ts) - 1} more)" if len(ts) > 1 else ""
    words = _WORDS[lead.kind]
    head = detail(lead)
    lines: list[str] = []
    if len(ts) > 1:
        lines += [f"{t.severity.upper()}: {_WORDS[t.kind]}{detail(t)}" for t in ts]
    elif lead.kind != "resolve":
        lines += list(lead.finding.lines)
    if any(t.finding.rule in DRIFT_RULES and t.kind != "resolve" for t in ts):
        lines += [c for c in feature_changes(summary) if c not in lines]
    short = (words + (lead.finding.short or head)) if lead.kind != "resolve" else head
    extra = {"short": short + more, "transition": lead.kind,
             "rules": ", ".join(dict.fromkeys(t.finding.rule for t in ts)),
             "incidents": json.dumps([{"rule": t.finding.rule, "subject": t.finding.subject, "kind": t.kind,
                                       "severity": t.severity, "detail": detail(t),
                                       "dedup_key": dedup_key(summary.model, t)} for t in ts])}
    if ack_url and any(t.kind != "resolve" for t in ts):
        extra["ack_url"] = ack_url
    if quality and any(t.finding.rule not in QUALITY_RULES for t in ts):
        extra["data_quality"] = "\n".join(quality)
    return Message(
        model=summary.model, severity=lead.severity,  # type: ignore[arg-type]
        rule=lead.finding.rule, subject=lead.finding.subject,
        headline=f"Driftline {lead.severity.upper()} {summary.model}: {words}{head}{more}",
        lines=tuple(lines), run_id=summary.run_id, report_url=link, extra=extra,
    )
