"""The outbox: every notification is written before it is sent and marked after, so none is lost or doubled.

Rows are delivered oldest first, per channel. Each row is claimed (owner and expiry, in the store)
right before it is sent and marked right after, so two concurrent flushes never send one row twice.
A channel that fails transiently keeps its rows (and every newer row of that channel, to keep the
order) for a later run, with exponential backoff; a refusal gives that one row up. Any other
exception of a sender is that channel's (retryable), never the run's. One channel never blocks another.
What can still repeat a message: the process dies (or the vendor's reply is lost) after the vendor
accepted and before the mark; the row's claim then expires and it is sent again (docs/reliability.md).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from monitor.config.alerts import OutboxPolicy
from monitor.config.defaults import METRICS_MAX_AGE
from monitor.errors import NotifierRejected, NotifierRetryable
from monitor.schema import faults
from monitor.schema.alerting import AlertState, Delivery

log = logging.getLogger("driftline.alerts")

Sender = Callable[[Delivery], None]
METRICS_CHANNELS = ("cloud_monitoring",)  # points older than METRICS_MAX_AGE are refused by the vendor


def owner_id() -> str:
    """Who claims rows and leases: host, process and a random part (a process's identity is not enough)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class FlushResult:
    """What one pass over the outbox did, and what is still waiting."""

    delivered: list[Delivery] = field(default_factory=list)
    failed: list[Delivery] = field(default_factory=list)  # given up on during this pass
    pending: list[Delivery] = field(default_factory=list)


def backoff(policy: OutboxPolicy, attempts: int) -> timedelta:
    """The wait before the next attempt after `attempts` failed ones."""
    # the exponent is capped: a row retried through a long outage must not overflow timedelta
    wait = policy.backoff_base * (2 ** min(max(attempts - 1, 0), 30))
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
    owner: str | None = None,
) -> FlushResult:
    """Tries every due pending row of a model, oldest first, each channel on its own (or only those channels)."""
    owner = owner or owner_id()
    result = FlushResult()
    blocked: set[str] = set()  # channels that failed or are waiting in this pass
    for row in state.pending_deliveries(model):
        if only is not None and row.channel not in only:
            continue
        if row.channel in blocked:
            result.pending.append(row)
            continue
        max_age = min(policy.max_age, METRICS_MAX_AGE) if row.channel in METRICS_CHANNELS else policy.max_age
        if now - row.created_at > max_age:
            _give_up(state, row, f"expired: not delivered within {max_age} of its creation", result)
            continue
        if row.next_attempt_at is not None and row.next_attempt_at > now:
            blocked.add(row.channel)
            result.pending.append(row)
            continue
        send = senders.get(row.channel)
        if send is None:
            _give_up(state, row, f"channel {row.channel!r} is not configured", result)
            continue
        if not state.claim_delivery(row.key, owner, now, now + policy.claim_ttl):
            blocked.add(row.channel)  # another flush is sending it (and keeps the channel's order)
            result.pending.append(row)
            continue
        faults.reached("before_send")
        try:
            send(row)
            faults.reached("after_accept")
        except NotifierRejected as exc:
            _give_up(state, replace(row, attempts=row.attempts + 1), str(exc), result)
        except Exception as exc:  # noqa: BLE001 - a sender's surprise is its channel's, retried like a 5xx
            attempts = row.attempts + 1
            error = str(exc) if isinstance(exc, NotifierRetryable) else f"{row.channel}: {type(exc).__name__}"
            if policy.max_attempts is not None and attempts >= policy.max_attempts:
                _give_up(state, replace(row, attempts=attempts), f"{error} (after {attempts} attempts)", result)
                continue
            waiting = replace(row, attempts=attempts, next_attempt_at=now + backoff(policy, attempts),
                              last_error=error)
            state.update_delivery(waiting)
            log.warning("alert delivery to %s pending (attempt %d): %s", row.channel, attempts, error)
            blocked.add(row.channel)
            result.pending.append(waiting)
        else:
            done = replace(row, status="delivered", attempts=row.attempts + 1, delivered_at=now, last_error="")
            state.update_delivery(done)
            faults.reached("after_mark")
            log.info("delivered %s %s/%s to %s", row.severity, row.rule, row.subject, row.channel)
            result.delivered.append(done)
    state.prune_deliveries(now - policy.retention)
    return result


def _give_up(state: AlertState, row: Delivery, error: str, result: FlushResult) -> None:
    failed = replace(row, status="failed", last_error=error)
    state.update_delivery(failed)
    log.error("alert delivery to %s given up: %s", row.channel, error)
    result.failed.append(failed)
