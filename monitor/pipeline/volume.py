"""How many rows a window should have, and which windows were never run.

The expected count is `window.expected_rows` when the config sets it; otherwise it is learned: the
median row count of the model's recent non-empty windows (at least VOLUME_MIN_HISTORY of them), else
the reference's own rate when the reference carries the log timestamp. With nothing to learn from
it is None, and only an empty window is flagged (the volume rule in alerts/rules.py).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import datetime

from monitor.config import ModelConfig
from monitor.config.defaults import VOLUME_HISTORY, VOLUME_MIN_HISTORY
from monitor.sql.bookkeeping import time_span_query
from monitor.stores.base import RunRecord, Store


def expected_rows(cfg: ModelConfig, store: Store, history: Sequence[tuple[RunRecord, int]],
                  reference_columns: dict[str, str]) -> tuple[int | None, str | None]:
    """(expected rows, where that number comes from: config | history | reference | None)."""
    if cfg.window.expected_rows is not None:
        return cfg.window.expected_rows, "config"
    # An outage must not teach the monitor that empty windows are normal: only non-empty ones count.
    counts = [rows for _, rows in history[:VOLUME_HISTORY] if rows > 0]
    if len(counts) >= VOLUME_MIN_HISTORY:
        return int(round(statistics.median(counts))), "history"
    ts = cfg.predictions.timestamp
    if ts in reference_columns and "TIMESTAMP" in reference_columns[ts].upper():
        span = store.query(time_span_query(store.dialect, store.table(cfg.reference_table), ts))[0]
        first, last, n = span["first_ts"], span["last_ts"], int(span["n"] or 0)
        if first is not None and last is not None and last > first and n:
            seconds = (last - first).total_seconds()
            rate = n / seconds * cfg.window.duration.total_seconds()
            return max(int(round(rate)), 1), "reference"
    return None, None


def missed_windows(cfg: ModelConfig, history: Sequence[tuple[RunRecord, int]], start: datetime) -> dict[str, object] | None:
    """The windows between the previous run and this one that were never run (scheduler stopped?)."""
    if not history:
        return None
    # Windows start one step apart (window.every; side by side when it is the length): the missed ones
    # start after the previous run's and before this one's.
    step = cfg.window.step_duration
    count = int((start - history[0][0].window_start) / step) - 1
    if count < 1:
        return None
    first = history[0][0].window_start + step
    last_end = start - step + cfg.window.duration
    return {"count": count, "from": first.isoformat(), "to": last_end.isoformat(),
            "do": f"driftline backfill --model {cfg.model} --from {first:%Y-%m-%dT%H:%M}Z "
                  f"--to {last_end:%Y-%m-%dT%H:%M}Z"}
