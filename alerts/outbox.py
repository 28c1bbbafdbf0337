"""The outbox: every notification is written before it is sent and marked after, so none is lost or doubled.

Rows are delivered oldest first, per channel. A channel that fails transiently keeps its
rows (and every newer row of that channel, to keep the order) for a later run, with
exponential backoff; a refusal gives that one row up. One channel never blocks another.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from monitor.config.alerts import OutboxPolicy
from monitor.errors import NotifierRejected, NotifierRetryable
from monitor.schema.alerting import AlertState, Delivery

log = logging.getLogger("driftline.alerts")

Sender = Callable[[Delivery], None]


@dataclass
class FlushResult:
    """What one pass over the outbox did, and what is still waiting."""

    delivered: list[Delivery] = field(default_factory=list)
    failed: list[Delivery] = field(default_factory=list)  # given up on during this pass
    pending: list[Delivery] = field(default_factory=list)


def backoff(policy: OutboxPolicy, attempts: int) -> timedelta:
    """The wait before the next attempt after `attempts` failed ones."""
    wait = policy.backoff_base * (2 ** max(attempts - 1, 0))
    return min(wait, policy.backoff_max)


def enqueue(state: AlertState, rows: Sequence[Delivery]) -> int:
    """Writes rows whose idempotency key is new; returns how many were new."""
    return state.add_deliveries(rows)


def flush(
    state: AlertState,
    model: str,
    senders: Mapping[str, Sender],
    policy: OutboxPolicy,
    now: datetime,
    *,
    only: Collection[str] | None = None,
) -> FlushResult:
    """Tries every due pending row of a model, oldest first, each channel on its own (or only those channels)."""
    result = FlushResult()
    blocked: set[str] = set()  # channels that failed or are waiting in this pass
    for row in state.pending_deliveries(model):
        if only is not None and row.channel not in only:
            continue
        if row.channel in blocked:
            result.pending.append(row)
            continue
        if now - row.created_at > policy.max_age:
            _give_up(state, row, "expired before it could be delivered", result)
            continue
        if row.next_attempt_at is not None and row.next_attempt_at > now:
            blocked.add(row.channel)
            result.pending.append(row)
            continue
        send = senders.get(row.channel)
        if send is None:
            _give_up(state, row, f"channel {row.channel!r} is not configured", result)
            continue
        try:
            send(row)
        except NotifierRejected as exc:
            _give_up(state, replace(row, attempts=row.attempts + 1), str(exc), result)
        except NotifierRetryable as exc:
            attempts = row.attempts + 1
            if attempts >= policy.max_attempts:
                _give_up(state, replace(row, attempts=attempts), f"{exc} (after {attempts} attempts)", result)
                continue
            waiting = replace(row, attempts=attempts, next_attempt_at=now + backoff(policy, attempts),
                              last_error=str(exc))
            state.update_delivery(waiting)
            log.warning("alert delivery to %s pending (attempt %d): %s", row.channel, attempts, exc)
            blocked.add(row.channel)
            result.pending.append(waiting)
        else:
            done = replace(row, status="delivered", attempts=row.attempts + 1, delivered_at=now, last_error="")
            state.update_delivery(done)
            log.info("delivered %s %s/%s to %s", row.severity, row.rule, row.subject, row.channel)
            result.delivered.append(done)
    return result


def _give_up(state: AlertState, row: Delivery, error: str, result: FlushResult) -> None:
    failed = replace(row, status="failed", last_error=error)
    state.update_delivery(failed)
    log.error("alert delivery to %s given up: %s", row.channel, error)
    result.failed.append(failed)
