"""Which window a run is about: aligned on its length (or midnight UTC), complete (past its grace), and its run id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.config import ModelConfig
from monitor.errors import InvalidWindow
from monitor.sql.bookkeeping import first_logged_query
from monitor.stores.base import Store

EPOCH = datetime(1970, 1, 1)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def window_for(cfg: ModelConfig, at: datetime | None = None) -> tuple[datetime, datetime]:
    """The latest complete window ending at or before `at` (naive UTC). Windows end on multiples of their
    step (`window.every`, by default the length: side by side), so a 24h window every 1h ends each hour."""
    at = at or utcnow()
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    length, step = cfg.window.duration, cfg.window.step_duration
    if cfg.window.alignment == "start_of_day":
        # Anchored at midnight UTC: a 7d window ends at today's midnight, a 6h one at 00/06/12/18.
        midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
        end = midnight + ((at - midnight) // step) * step if step <= timedelta(days=1) else midnight
    else:
        end = EPOCH + ((at - EPOCH) // step) * step
    return end - length, end


def window_ends(cfg: ModelConfig, start: datetime, end: datetime) -> list[datetime]:
    """A backfill's windows between `start` and `end`: the first starts at `start`, one every step, the
    last ends no later than `end` (overlapping when the step is shorter than the length)."""
    at, out = start + cfg.window.duration, []
    while at <= end:
        out.append(at)
        at += cfg.window.step_duration
    return out


def run_id_for(cfg: ModelConfig, start: datetime, end: datetime) -> str:
    """One id (and lease) per (model, window start, length): overlapping windows of a step differ by start."""
    return f"{cfg.model}-{start:%Y%m%dT%H%M}Z-{cfg.window.length}"


def _naive(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo is not None else at


def complete_at(cfg: ModelConfig, at: datetime | None, now: datetime) -> datetime:
    """The moment whose latest window is complete: `at`, but never later than now less the window's grace.

    An `at` in the future is refused (its window is still open: judged, it would be stored for good).
    """
    if at is not None and _naive(at) > now:
        raise InvalidWindow(f"at={_naive(at).isoformat()} is in the future: its window is not complete yet "
                            f"(valid: up to now, {now.isoformat(timespec='seconds')})")
    return min(_naive(at) if at is not None else now, now - cfg.window.grace_duration)


def check_at(cfg: ModelConfig, store: Store, at: datetime, now: datetime | None = None) -> None:
    """`at` must lie in [first logged row, now]: InvalidWindow names the valid range otherwise.

    The one check of `at` that POST /run and `driftline run` share (the first row is read only when
    `at` is given, so a scheduled run pays no query for it).
    """
    now = now or utcnow()
    naive = _naive(at)
    p = cfg.predictions
    first = None
    if store.exists(p.table):
        rows = store.query(first_logged_query(store.dialect, store.table(p.table), p.timestamp, p.model_column,
                                              cfg.model))
        first = rows[0]["first_ts"] if rows else None
    lower = _naive(first) if first is not None else EPOCH  # no logs yet: at least nothing before 1970
    if naive < lower or naive > now:
        since = lower.isoformat() if first is not None else f"{EPOCH.isoformat()} (nothing is logged yet)"
        raise InvalidWindow(f"at={naive.isoformat()} is outside the valid range [{since}, "
                            f"{now.isoformat(timespec='seconds')}] of model {cfg.model!r} "
                            "(from its first logged row to now)")
