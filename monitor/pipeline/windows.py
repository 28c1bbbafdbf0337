"""Which window a run is about: aligned on its length (or midnight UTC), and its run id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.config import ModelConfig

EPOCH = datetime(1970, 1, 1)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def window_for(cfg: ModelConfig, at: datetime | None = None) -> tuple[datetime, datetime]:
    """The latest complete window ending at or before `at` (naive UTC), aligned on its length."""
    at = at or utcnow()
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    length = cfg.window.duration
    if cfg.window.alignment == "start_of_day":
        # Anchored at midnight UTC: a 7d window ends at today's midnight, a 6h one at 00/06/12/18.
        midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
        end = midnight + ((at - midnight) // length) * length if length <= timedelta(days=1) else midnight
    else:
        end = EPOCH + ((at - EPOCH) // length) * length
    return end - length, end


def run_id_for(cfg: ModelConfig, start: datetime, end: datetime) -> str:
    return f"{cfg.model}-{start:%Y%m%dT%H%M}Z-{cfg.window.length}"
