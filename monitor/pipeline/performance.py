"""Model performance inside a run: realized (labels joined in SQL) and estimated (CBPE).

The store returns at most `bins` rows per window (monitor.sql.performance.performance_query); labels that
arrive late make earlier windows' performance provisional, then final: each run refreshes the
recent windows whose label coverage changed, keeping when each value was computed.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import asdict
from datetime import UTC, datetime

from monitor.config import ModelConfig, defaults
from monitor.performance.estimated import Calibrator, ScoreHistogram, estimate, fit_calibrator_from_counts
from monitor.performance.realized import (
    LabelledCounts,
    PerformancePolicy,
    PerformanceResult,
    evaluate,
    reference_performance,
)
from monitor.sql import profiler as profiling
from monitor.sql.labels import performance_per_piece_query, pieces
from monitor.sql.performance import performance_query
from monitor.sql.queries import Source
from monitor.stores.base import Store

log = logging.getLogger(__name__)
BINS = defaults.SCORE_BINS


def policy(cfg: ModelConfig) -> PerformancePolicy:
    p = cfg.performance
    return PerformancePolicy(key_class=cfg.prediction.important_class, confidence=p.confidence,
                             min_coverage=p.min_coverage, min_labelled=p.min_labelled,
                             complete_coverage=p.complete_coverage, tolerance=p.tolerance, resamples=p.resamples,
                             floors=dict(p.floors), fdr=p.fdr)


def _counts(store: Store, src: Source, cfg: ModelConfig, label: str | None,
            served: str | None = None) -> tuple[LabelledCounts, ScoreHistogram, int]:
    """The window's counts (confusion on the served class when `served` names its column), histogram,
    and the rows whose served class disagrees with the threshold."""
    assert cfg.prediction.probability
    rows = store.query(performance_query(store.dialect, src, cfg.prediction.probability, label,
                                         threshold=cfg.prediction.threshold, bins=BINS,
                                         positive_class=cfg.prediction.positive_class, served=served))
    return _tally(rows)


Counted = tuple[LabelledCounts, ScoreHistogram, int]


def windows_counts(cfg: ModelConfig, store: Store, span: Source,
                   windows: list[tuple[datetime, datetime]]) -> list[Counted]:
    """The labelled counts of each window (as window_performance's own query), in one grouped scan of `span`."""
    assert cfg.prediction.probability
    served = served_column(cfg, store, cfg.predictions.table)
    parts, covers = pieces(windows)
    q = performance_per_piece_query(store.dialect, span, parts, cfg.prediction.probability, "__label",
                                    threshold=cfg.prediction.threshold, bins=BINS,
                                    positive_class=cfg.prediction.positive_class, served=served)
    per_piece: dict[int, list[dict]] = {}
    for r in store.query(q):
        per_piece.setdefault(int(r["g"]), []).append(r)
    # A window's rows per bin: the sums over its pieces (windows that overlap share pieces).
    return [_tally(_summed([r for k in cover for r in per_piece.get(k, [])])) for cover in covers]


def _summed(rows: list[dict]) -> list[dict]:
    by_bin: dict[int, dict] = {}
    for r in rows:
        b = int(r["bin"])
        if b not in by_bin:
            by_bin[b] = {k: v for k, v in r.items() if k != "g"}
        else:
            acc = by_bin[b]
            for k, v in r.items():
                if k not in ("g", "bin") and v is not None:
                    acc[k] = v if acc.get(k) is None else acc[k] + v
    return list(by_bin.values())


def _tally(rows: list[dict]) -> Counted:
    pos, neg = [0] * BINS, [0] * BINS
    below, above = [0] * BINS, [0] * BINS
    below_sum, above_sum = [0.0] * BINS, [0.0] * BINS
    tot = {"n": 0, "n_served": 0, "disagree": 0, "tp": 0, "fp": 0, "tn": 0, "fn": 0, "brier": 0.0, "brier4": 0.0}
    for r in rows:
        b = int(r["bin"])
        pos[b], neg[b] = int(r["pos"] or 0), int(r["neg"] or 0)
        above[b] = int(r["n_above"] or 0)
        below[b] = int(r["n"]) - above[b]
        above_sum[b], below_sum[b] = float(r["sum_above"] or 0), float(r["sum_below"] or 0)
        for k in tot:
            tot[k] += r[k] or 0
    counts = LabelledCounts(predictions=int(tot["n"]), predicted_positive=int(tot["n_served"]), tp=int(tot["tp"]),
                            fp=int(tot["fp"]), tn=int(tot["tn"]), fn=int(tot["fn"]), positives=tuple(pos),
                            negatives=tuple(neg), brier_sum=float(tot["brier"]), brier_sq_sum=float(tot["brier4"]))
    hist = ScoreHistogram(below=tuple(below), above=tuple(above), below_sum=tuple(below_sum),
                          above_sum=tuple(above_sum))
    return counts, hist, int(tot["disagree"])


def served_column(cfg: ModelConfig, store: Store, table: str) -> str | None:
    """The logged class column when configured and present in `table` (else the threshold decides)."""
    col = cfg.prediction.class_column
    if not col:
        return None
    known: dict[str, str] = getattr(store, "columns", lambda t: {})(table)
    return col if not known or col in known else None


def reference_state(cfg: ModelConfig, store: Store, version: str | None = None,
                    ) -> tuple[PerformanceResult, Calibrator] | None:
    """The labelled reference's performance and the calibrator, computed once per reference content version."""
    if not cfg.prediction.probability or cfg.labels is None:
        return None
    if version is None:  # callers outside a run (late labels): the version as it is now
        from monitor.pipeline.reference import content_version

        version = content_version(store, cfg.reference_table) if store.exists(cfg.reference_table) else ""
    pred = cfg.prediction
    key = (f"reference-performance:{cfg.model}:{profiling.fingerprint(cfg)}:"
           f"{pred.probability}:{pred.threshold}:{pred.positive_class}:{cfg.labels.column}:{pred.class_column}:{version}")
    cached = store.get_state(key)
    if cached is None:
        cols: dict[str, str] = getattr(store, "columns", lambda t: {})(cfg.reference_table)
        if cols and cfg.labels.column not in cols:
            return None
        counts, _, _ = _counts(store, Source(table=store.table(cfg.reference_table)), cfg, cfg.labels.column,
                               served_column(cfg, store, cfg.reference_table))
        if counts.labelled == 0:
            return None
        cal = fit_calibrator_from_counts(counts)
        cached = json.dumps({"counts": counts.__dict__, "calibrator": cal.to_dict()})
        store.put_state(key, cached)
    return _reference(cached, json.dumps(asdict(policy(cfg)), sort_keys=True))


@functools.lru_cache(maxsize=16)
def _reference(cached: str, policy_json: str) -> tuple[PerformanceResult, Calibrator]:
    # The reference's bootstrap, once per process for the same stored counts and policy: a run and its
    # late-label refresh (and every window of a backfill) share it instead of resampling again.
    data = json.loads(cached)
    c = data["counts"]
    counts = LabelledCounts(**{**c, "positives": tuple(c["positives"]), "negatives": tuple(c["negatives"])})
    return reference_performance(counts, PerformancePolicy(**json.loads(policy_json))), \
        Calibrator.from_dict(data["calibrator"])


def window_performance(cfg: ModelConfig, store: Store, src: Source, labelled: bool,
                       ref: tuple[PerformanceResult, Calibrator] | None,
                       settled: bool = False, counted: Counted | None = None) -> tuple[dict | None, dict | None]:
    """(performance, estimated_performance) of one window, as summary dicts (`counted`: its counts, if
    already queried with other windows' by windows_counts)."""
    if ref is None or not cfg.prediction.probability:
        return None, None
    counts, hist, disagree = counted or _counts(store, src, cfg, "__label" if labelled else None,
                                                served_column(cfg, store, cfg.predictions.table))
    pol = policy(cfg)
    realized = evaluate(counts, pol, reference=ref[0], settled=settled).to_summary() if labelled else None
    estimated = estimate(hist, ref[1], pol, reference=ref[0]).to_summary()
    served = served_column(cfg, store, cfg.predictions.table)
    if served is not None:  # every row of the window, labelled or not: the run's data-quality check reads it
        estimated["served_class"] = {"column": served, "disagree": disagree,
                                     "share": disagree / counts.predictions if counts.predictions else 0.0}
    if realized is not None:
        realized["predicted_by"] = "served class" if served else "threshold"
    if realized is not None:
        realized["computed_at"] = datetime.now(UTC).replace(tzinfo=None).isoformat()
    return realized, estimated
