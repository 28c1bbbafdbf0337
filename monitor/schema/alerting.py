"""The alerting state's types: incidents, outbox rows, silences, and the Protocol every store's alert state meets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass
class Incident:
    """One incident per (model, rule, subject): open or resolved, and what was last said about it."""

    model: str
    rule: str
    subject: str
    status: str  # open | resolved
    severity: str  # warn | critical: the current level while open, the last one once resolved
    opened_at: datetime  # window end of the run that opened it
    last_notified_at: datetime
    last_notified_severity: str
    last_window_end: datetime  # newest window evaluated: an older or equal one is a retry
    last_run_key: str
    acknowledged_by: str = ""  # who acknowledged it while open: it stops re-notifying, still resolves
    acknowledged_at: datetime | None = None
    silenced: str = ""  # the silence that muted its last news: when that silence ends, one message says so


@dataclass
class Silence:
    """A mute with an expiry and a reason: matching alerts are evaluated and stored, but not sent."""

    id: str
    model: str
    rule: str  # "" matches every rule
    subject: str  # a feature (or a rule's subject); "" matches every subject
    starts_at: datetime
    ends_at: datetime  # expiring a silence sets this to the moment it was expired
    reason: str
    created_by: str
    created_at: datetime

    def active(self, at: datetime) -> bool:
        """Whether the silence mutes alerts at this moment."""
        return self.starts_at <= at < self.ends_at


@dataclass
class Delivery:
    """One outbox row: a payload for one channel, written before it is sent."""

    key: str  # idempotency key: run, rule, subject, channel
    model: str
    run_key: str
    rule: str
    subject: str
    channel: str
    severity: str
    payload: str  # JSON of the Message (or of the metric points)
    window_end: datetime  # with position, the order of delivery: oldest first
    position: int
    created_at: datetime
    status: str = "pending"  # pending | delivered | failed (given up)
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str = ""
    delivered_at: datetime | None = None
    claimed_by: str = ""  # the sender that claimed the row for one attempt, until claimed_until
    claimed_until: datetime | None = None


class AlertState(Protocol):
    """The persistent state of alerting; implementations create their tables if missing."""

    def incidents(self, model: str) -> list[Incident]: ...

    def save_incidents(self, incidents: Sequence[Incident]) -> None: ...  # upsert by (model, rule, subject)

    def add_deliveries(self, rows: Sequence[Delivery]) -> int: ...  # insert absent keys; count inserted

    def pending_deliveries(self, model: str) -> list[Delivery]: ...  # status pending, oldest first

    def update_delivery(self, row: Delivery) -> None: ...  # also clears the row's claim

    def claim_delivery(self, key: str, owner: str, now: datetime, until: datetime) -> bool: ...
    # atomically: a pending row not claimed by anyone else (or whose claim ended before `now`) -> owner's

    def failed_deliveries(self, model: str) -> list[Delivery]: ...  # given up, oldest first

    def requeue_failed(self, model: str, channel: str | None, now: datetime) -> int: ...
    # failed rows (of one channel) pending again, their age counted from `now`; how many

    def prune_deliveries(self, before: datetime) -> int: ...  # delivered and failed rows created before

    def silences(self, model: str) -> list[Silence]: ...  # every silence of a model, newest first

    def save_silence(self, silence: Silence) -> None: ...  # upsert by id

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...
