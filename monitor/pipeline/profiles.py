"""Incremental window profiles: partial profiles per time bucket, kept in state and merged into the window.

Bin counts on the reference's fixed edges, category counts and null/inf/out-of-range counts add up; min
and max merge by min and max; mean and variance by Chan's pairwise update (monitor.sql.profiler.merge).
A run first asks the store how many rows each bucket of its window holds (monitor.sql.partials: one
narrow column), re-profiles in one grouped scan only the buckets whose count differs from the one kept
with their partial (new buckets, or late rows), and merges every bucket's partial in bucket order.
Every count (rows, nulls, bins, out of range, categories) and the min and max equal a direct scan's
exactly; the mean and variance are float sums, which DuckDB's parallel aggregation adds in no fixed
order (one scan run twice can differ in the last bit), so they agree to rounding (1e-12 relative). They
feed only the page's digest and the alert's "up 1.5 std", never a verdict: the tests read the counts.

Partials are keyed by the model, a fingerprint of the specs (the reference's edges and categories and
the reference's own fingerprint: a new reference starts afresh), the source and the bucket size, one
state document per UTC day of buckets. Not merged: the label's profile (late labels change past
buckets without a new prediction row, so it is one narrow joined scan of the window) and the names of
unseen categories (a top five is not additive: looked up over the window when some are unseen).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from datetime import datetime, timedelta

from monitor.config import ModelConfig
from monitor.pipeline.reference import columns, ensure_reference
from monitor.schema.profile import CategoricalProfile, CategoricalSpec, Spec, WindowProfile
from monitor.sql import profiler as profiling
from monitor.sql.partials import bucket_counts_query
from monitor.sql.queries import Source, profile_query, unseen_values_query
from monitor.stores.base import BucketSignals, Store

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)


def window_profile(cfg: ModelConfig, store: Store, src: Source, specs: Sequence[Spec]) -> WindowProfile:
    """The window's profile: merged from per-bucket partials when the window is whole buckets, else one scan."""
    bucket = cfg.window.bucket_duration
    mergeable = [s for s in specs if s.name != profiling.LABEL]
    if bucket is None or not _aligned(src, bucket) or not mergeable:
        return profiling.profile(store, src, specs)
    merged = profile_buckets(cfg, store, src, mergeable, bucket)
    if merged is None:  # no rows: the plain scan gives the empty profile
        return profiling.profile(store, src, specs)
    feats = dict(merged.features)
    for spec in mergeable:
        f = feats[spec.name]
        if isinstance(spec, CategoricalSpec) and isinstance(f, CategoricalProfile) and f.unseen:
            rows = store.query(unseen_values_query(store.dialect, replace(src, labels_table=None), spec))
            feats[spec.name] = replace(f, unseen_values=tuple(str(r["v"]) for r in rows))
    label = [s for s in specs if s.name == profiling.LABEL]
    if label:
        feats.update(profiling.profile(store, src, label).features)
    return WindowProfile(rows=merged.rows, features={s.name: feats[s.name] for s in specs})


def profile_buckets(cfg: ModelConfig, store: Store, src: Source, specs: Sequence[Spec],
                    bucket: timedelta) -> WindowProfile | None:
    """Bring the partials of `src`'s buckets up to date (one grouped scan of the changed ones) and merge
    them; None when the span holds no rows. A backfill calls it once over its whole span first."""
    assert src.timestamp is not None
    bucket_us = bucket // _US
    plain = replace(src, labels_table=None)
    # The change signal: the store's own (BigQuery: hour partition metadata), else each bucket's row count.
    signals = store.bucket_signals(plain, bucket_us) if isinstance(store, BucketSignals) else None
    counts = signals if signals is not None else {
        int(r["b"]): str(r["n"]) for r in store.query(bucket_counts_query(store.dialect, plain, bucket_us))}
    if not counts:
        return None
    kept = _Partials(store, _key(cfg, store, plain, specs, bucket_us), bucket_us)
    stale, scanned = {b for b, n in counts.items() if kept.count(b) != n}, set()
    for first, last in _runs(sorted(stale)):  # one grouped scan per run of consecutive stale buckets
        scan = replace(plain, start=EPOCH + first * bucket, end=EPOCH + (last + 1) * bucket)
        for row in store.query(profile_query(store.dialect, scan, specs, bucket_us=bucket_us)):
            kept.put(int(row["b"]), profiling.parse_profile(row, specs, {}), counts.get(int(row["b"]), ""))
            scanned.add(int(row["b"]))
    kept.save()
    # A stale bucket the scan no longer found (its rows gone meanwhile) must not lend its old partial.
    parts = [p for p in (kept.get(b) for b in sorted(counts) if b not in stale or b in scanned) if p is not None]
    return profiling.merge(parts) if parts else None


def prefill(cfg: ModelConfig, store: Store, start: datetime, end: datetime) -> int:
    """A backfill's first step: every bucket of [start, end) profiled in one grouped scan, so each of its
    windows then only counts and merges. The specs are the run's (monitor.pipeline.run: the label apart,
    a monitored column missing from the logs as NULL); how many buckets the span has."""
    bucket, p = cfg.window.bucket_duration, cfg.predictions
    if bucket is None or not store.exists(p.table):
        return 0
    ref = ensure_reference(cfg, store)
    logged = columns(store, p.table)
    specs = [replace(s, expr="NULL") if logged and s.expr not in logged and s.expr.isidentifier() else s
             for s in ref.specs.values() if s.name != profiling.LABEL]
    first, last = (start - EPOCH) // bucket, -((EPOCH - end) // bucket)  # whole buckets covering the span
    src = Source(table=store.table(p.table), timestamp=p.timestamp, start=EPOCH + first * bucket,
                 end=EPOCH + last * bucket, model_column=p.model_column, model=cfg.model)
    merged = profile_buckets(cfg, store, src, specs, bucket) if specs else None
    return 0 if merged is None else last - first


def prefill_models(configs: Sequence[ModelConfig], store_for: Callable[[ModelConfig], Store], start: datetime,
                   end: datetime) -> None:
    """prefill for each model of a backfill; a failure here is only lost time (each window profiles its own)."""
    for cfg in configs:
        try:
            prefill(cfg, store_for(cfg), start, end)
        except Exception as exc:  # the window's own run meets the same problem and reports it, named
            log.warning("model %s: profiling the backfill's buckets ahead failed: %s", cfg.model, exc)


def _runs(buckets: list[int]) -> list[tuple[int, int]]:
    """Consecutive buckets as (first, last) runs: a new hour and a late row's hour are two small scans,
    not one scan of everything between them (a time range prunes; a list of buckets would not)."""
    out: list[tuple[int, int]] = []
    for b in buckets:
        if out and out[-1][1] == b - 1:
            out[-1] = (out[-1][0], b)
        else:
            out.append((b, b))
    return out


def _aligned(src: Source, bucket: timedelta) -> bool:
    if src.timestamp is None or src.start is None or src.end is None:
        return False
    return (src.start - EPOCH) % bucket == timedelta(0) and (src.end - src.start) % bucket == timedelta(0)


def _key(cfg: ModelConfig, store: Store, src: Source, specs: Sequence[Spec], bucket_us: int) -> str:
    basis = json.dumps([profiling.fingerprint(cfg), src.table, src.timestamp, src.model_column, src.model,
                        bucket_us, [asdict(s) for s in specs]], default=str)
    return f"profile-partials:{cfg.model}:{hashlib.sha256(basis.encode()).hexdigest()[:16]}"


class _Partials:
    """The partial profiles of one key, one state document per UTC day: {bucket: [rows, profile]}."""

    def __init__(self, store: Store, key: str, bucket_us: int) -> None:
        self._store, self._key, self._bucket_us = store, key, bucket_us
        self._days: dict[str, dict[str, list]] = {}
        self._dirty: set[str] = set()

    def _day(self, b: int) -> dict[str, list]:
        day = f"{EPOCH + b * self._bucket_us * _US:%Y-%m-%d}"
        if day not in self._days:
            text = self._store.get_state(f"{self._key}:{day}")
            self._days[day] = json.loads(text) if text else {}
        return self._days[day]

    def count(self, b: int) -> str | None:
        got = self._day(b).get(str(b))
        return None if got is None else str(got[0])

    def get(self, b: int) -> WindowProfile | None:
        got = self._day(b).get(str(b))
        return None if got is None else profiling.profile_from_dict(got[1])

    def put(self, b: int, p: WindowProfile, signal: str) -> None:
        self._day(b)[str(b)] = [signal, profiling.profile_to_dict(p)]
        self._dirty.add(f"{EPOCH + b * self._bucket_us * _US:%Y-%m-%d}")

    def save(self) -> None:
        for day in sorted(self._dirty):
            self._store.put_state(f"{self._key}:{day}", json.dumps(self._days[day], separators=(",", ":")))
        self._dirty.clear()
