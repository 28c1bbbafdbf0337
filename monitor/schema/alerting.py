"""The alerting state's types: incidents, outbox rows, and the Protocol every store's alert state meets."""

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


class AlertState(Protocol):
    """The persistent state of alerting; implementations create their tables if missing."""

    def incidents(self, model: str) -> list[Incident]: ...

    def save_incidents(self, incidents: Sequence[Incident]) -> None: ...  # upsert by (model, rule, subject)

    def add_deliveries(self, rows: Sequence[Delivery]) -> int: ...  # insert absent keys; count inserted

    def pending_deliveries(self, model: str) -> list[Delivery]: ...  # status pending, oldest first

    def update_delivery(self, row: Delivery) -> None: ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...
