"""Incremental profiles: a window merged from per-bucket partials equals the window profiled at once (every
count exactly, the mean and variance to rounding), also after late rows land in a bucket already profiled;
only new or changed buckets are scanned."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from monitor.config import ModelConfig, load_model_config
from monitor.pipeline.profiles import EPOCH, window_profile
from monitor.schema.profile import Spec
from monitor.sql import profiler as profiling
from monitor.sql.partials import bucket_counts_query
from monitor.sql.queries import Source
from monitor.stores.duckdb import DuckDBStore
from tests.conftest import write_config
from tests.monitor.sql.test_profiler import T0, _frame
from tests.monitor.stores.recording import RecordingDuckDB

COLS = [("x", "numerical", "x"), ("y", "numerical", "y"), ("k", "numerical", "k"), ("c", "categorical", "c")]


def scanned_buckets(store: Any, bucket: timedelta = timedelta(hours=1)) -> list[list[int]]:
    """The buckets each partial-profile scan read (every bucket of its time range), in order: the grouped
    scans, and the ungrouped scans of exactly one bucket (a lone stale bucket is profiled without GROUP BY)."""
    out = []
    for q in store.sent:
        one = "c0_nulls" in q.sql and "w_start" in q.params and q.params["w_end"] - q.params["w_start"] == bucket
        if "AS bkt" in q.sql or one:
            step = timedelta(microseconds=q.params.get("bucket_us", bucket // timedelta(microseconds=1)))
            span = range((q.params["w_start"] - EPOCH) // step, (q.params["w_end"] - EPOCH) // step)
            out.append(list(span))
    return out


@pytest.fixture
def cfg(tmp_path: Path) -> ModelConfig:
    write_config(tmp_path, report="{evidently: false}")
    return load_model_config(tmp_path / "wheel-assembly.yaml")


def _data() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The reference, the first 12 hours of a day, the rest of the day, and late rows of hour 3."""
    ref, day = _frame(4000, 1), _frame(6000, 2, shift=0.3)
    day.loc[:4, "c"] = "zzz"  # unseen: its name is looked up over the window
    day.loc[5:9, "x"] = float("nan")
    early = day[day["ts"] < T0 + timedelta(hours=12)]
    late = _frame(40, 3, shift=2.0).assign(ts=T0 + timedelta(hours=3, minutes=7))
    return ref, early, day[day["ts"] >= T0 + timedelta(hours=12)], late


def _specs(store: Any) -> list[Spec]:
    return list(profiling.build_specs(store, Source(table=store.table("ref")), COLS, bins=20, top_k=3).values())


def _src(store: Any, hours: int = 24) -> Source:
    return Source(table=store.table("logs"), timestamp="ts", start=T0, end=T0 + timedelta(hours=hours),
                  model_column="model_name", model="m")


def _assert_same(merged: Any, direct: Any, rel: float) -> None:
    """Every count, bin, min and max equal exactly; the mean and variance (float sums, which DuckDB's
    parallel aggregation adds in no fixed order, even for one scan run twice) equal to rounding."""
    assert merged.rows == direct.rows
    for name in direct.features:
        a, b = asdict(merged.features[name]), asdict(direct.features[name])
        for key in a:
            if key in ("mean", "variance"):
                assert math.isclose(a[key], b[key], rel_tol=rel), (name, key)
            else:
                assert a[key] == b[key], (name, key)


def _assert_exact_and_close_to_one_scan(store: Any, merged: Any, specs: list[Spec]) -> None:
    _assert_same(merged, profiling.profile(store, _src(store), specs), rel=1e-12)  # one ungrouped scan


def incremental_equals_direct(cfg: ModelConfig, inc: Any, fresh: Any) -> None:
    """`inc` profiles as the data arrives; `fresh` gets the same rows, in the same order, and profiles once."""
    ref, early, rest, late = _data()
    for store in (inc, fresh):
        store.insert_frame("ref", ref)
    specs = _specs(inc)
    inc.insert_frame("logs", early)
    window_profile(cfg, inc, _src(inc), specs)  # 12 hours profiled, 12 empty
    first = scanned_buckets(inc)
    assert len(first) == 1 and len(first[0]) == 12  # every bucket in one grouped pass
    inc.insert_frame("logs", rest)
    inc.insert_frame("logs", late)  # late rows in hour 3, already profiled
    merged = window_profile(cfg, inc, _src(inc), specs)
    hour3 = (T0 + timedelta(hours=3) - EPOCH) // timedelta(hours=1)
    again = scanned_buckets(inc)[1:]  # the late hour, then the new half day: two scans, nothing between
    assert again == [[hour3], list(range(hour3 + 9, hour3 + 21))]
    for frame in (early, rest, late):
        fresh.insert_frame("logs", frame)
    direct = window_profile(cfg, fresh, _src(fresh), specs)
    _assert_same(merged, direct, rel=1e-12)
    assert merged.features["c"].unseen_values == ("zzz",)  # type: ignore[union-attr]
    _assert_exact_and_close_to_one_scan(inc, merged, specs)
    assert window_profile(cfg, inc, _src(inc), specs) == merged  # from state alone: bit for bit
    assert len(scanned_buckets(inc)) == 3  # nothing changed: nothing re-scanned


def test_duckdb_merged_profile_equals_the_direct_one_with_late_rows(cfg: ModelConfig, tmp_path: Path) -> None:
    inc, fresh = RecordingDuckDB(tmp_path / "a.duckdb"), RecordingDuckDB(tmp_path / "b.duckdb")
    incremental_equals_direct(cfg, inc, fresh)


def test_a_new_reference_profiles_every_bucket_again(cfg: ModelConfig, tmp_path: Path) -> None:
    store = RecordingDuckDB(tmp_path / "a.duckdb")
    ref, early, rest, _ = _data()
    store.insert_frame("ref", ref)
    store.insert_frame("logs", pd.concat([early, rest]))
    specs = _specs(store)
    window_profile(cfg, store, _src(store), specs)
    other = [replace(s, edges=tuple(e + 0.01 for e in s.edges)) if s.kind == "numerical" else s  # type: ignore[union-attr]
             for s in specs]
    window_profile(cfg, store, _src(store), other)
    assert [len(b) for b in scanned_buckets(store)] == [24, 24]


def test_a_window_of_part_buckets_or_without_buckets_is_one_plain_scan(cfg: ModelConfig, tmp_path: Path) -> None:
    store = RecordingDuckDB(tmp_path / "a.duckdb")
    ref, early, _, _ = _data()
    store.insert_frame("ref", ref)
    store.insert_frame("logs", early)
    specs = _specs(store)
    odd = replace(_src(store), end=T0 + timedelta(hours=1, minutes=30))
    _assert_same(window_profile(cfg, store, odd, specs), profiling.profile(store, odd, specs), rel=1e-12)
    off = cfg.model_copy(update={"window": cfg.window.model_copy(update={"bucket": None})})
    _assert_same(window_profile(off, store, _src(store), specs), profiling.profile(store, _src(store), specs),
                 rel=1e-12)
    assert scanned_buckets(store) == []  # no grouped scan: each was one plain scan


@pytest.fixture
def bq_pair(bq_client: Any, bq_dataset: str, bq_live: Any) -> Iterator[tuple[Any, Any]]:
    from monitor.stores.bigquery.store import BigQueryStore  # noqa: F401  (the emulator tests' import)
    from tests.monitor.stores.recording import RecordingStore

    bq_client.create_dataset(f"{bq_live.project}.{bq_dataset}_b", exists_ok=True)
    stores = tuple(RecordingStore(bq_client, ds, retries=1, backoff=0.05, timeout=30)
                   for ds in (bq_dataset, f"{bq_dataset}_b"))
    for s in stores:
        s.init()
    yield stores
    bq_client.delete_dataset(f"{bq_live.project}.{bq_dataset}_b", delete_contents=True, not_found_ok=True)


def test_bigquery_merged_profile_equals_the_direct_one_with_late_rows(cfg: ModelConfig, bq_pair: Any) -> None:
    incremental_equals_direct(cfg, *bq_pair)


def test_a_backfill_profiles_all_its_buckets_in_one_pass_and_its_windows_only_merge(tmp_path: Path) -> None:
    from monitor.demo import simulate
    from monitor.pipeline.profiles import prefill
    from monitor.pipeline.run import run_window
    from tests.conftest import START

    write_config(tmp_path, report="{evidently: false}")
    cfg = load_model_config(tmp_path / "wheel-assembly.yaml")
    store = RecordingDuckDB(cfg.resolve(cfg.store.path))
    store.insert_frame(cfg.reference_table, simulate.reference(3000))
    logs, _ = simulate.traffic(3, 400, START)
    store.insert_frame("predictions", logs)
    assert prefill(cfg, store, START, START + timedelta(days=3)) == 72
    assert [len(b) for b in scanned_buckets(store)] == [72]
    summaries = [run_window(cfg, store, START + timedelta(days=d)) for d in (1, 2, 3)]
    assert len(scanned_buckets(store)) == 1  # the windows merged what the backfill profiled
    other = DuckDBStore(tmp_path / "fresh.duckdb")
    other.insert_frame(cfg.reference_table, simulate.reference(3000))
    other.insert_frame("predictions", logs)
    fresh = [run_window(cfg, other, START + timedelta(days=d)) for d in (1, 2, 3)]
    # Two stores profile their reference apart (a parallel VAR_POP: equal to rounding), so values are close
    # and the verdicts the same; the windows' counts are equal exactly.
    for a, b in zip(summaries, fresh, strict=True):
        assert a.rows == b.rows and a.extra["profiles"].keys() == b.extra["profiles"].keys()
        for fa, fb in zip(a.features, b.features, strict=True):
            assert (fa.drifted, fa.status) == (fb.drifted, fb.status), fa.name
            assert math.isclose(fa.value or 0.0, fb.value or 0.0, rel_tol=1e-9), fa.name


def _ingest(store: DuckDBStore, frame: pd.DataFrame) -> int:
    """What `driftline ingest` does at its end: a staged file merged into the logs in one transaction."""
    store.insert_frame("_stage_logs", frame)
    return store.merge_staged("logs", "_stage_logs", "request_id", since_column="ts")


def counted_windows(store: Any) -> int:
    """Count queries over the window's timestamps (the fallback when the store's kept counts can't tell)."""
    return sum(1 for q in store.sent if "bucket_us" in q.params and "AS bkt" not in q.sql)


def test_duckdb_ingest_keeps_bucket_counts_so_a_run_reads_no_timestamps(cfg: ModelConfig, tmp_path: Path) -> None:
    inc, fresh = RecordingDuckDB(tmp_path / "a.duckdb"), RecordingDuckDB(tmp_path / "b.duckdb")
    ref, early, rest, late = _data()
    for store in (inc, fresh):
        store.insert_frame("ref", ref)
    specs = _specs(inc)
    assert _ingest(inc, early) == len(early)
    window_profile(cfg, inc, _src(inc), specs)
    assert counted_windows(inc) == 0 and [len(b) for b in scanned_buckets(inc)] == [12]
    assert _ingest(inc, rest) == len(rest)
    assert _ingest(inc, pd.concat([late, early.head(50)])) == len(late)  # stored ids are skipped, not counted
    merged = window_profile(cfg, inc, _src(inc), specs)
    hour3 = (T0 + timedelta(hours=3) - EPOCH) // timedelta(hours=1)
    assert scanned_buckets(inc)[1:] == [[hour3], list(range(hour3 + 9, hour3 + 21))]
    for frame in (early, rest, late):
        fresh.insert_frame("logs", frame)
    _assert_same(merged, window_profile(cfg, fresh, _src(fresh), specs), rel=1e-12)
    assert counted_windows(inc) == 0  # every run read the kept counts, never the window's timestamps
    signals = inc.bucket_signals(_src(inc), 3_600_000_000)
    assert signals is not None and sum(int(v[1:]) for v in signals.values()) == len(early) + len(rest) + len(late)


def test_rows_written_past_the_ingest_are_still_detected(cfg: ModelConfig, tmp_path: Path) -> None:
    """A user's own INSERT into the logs: the kept counts no longer add up, so the run counts the window's
    timestamps (and sees the late row, re-profiling only its hour: the signatures are the same counts);
    the next ingest counts the table afresh and the kept counts serve again."""
    store = RecordingDuckDB(tmp_path / "a.duckdb")
    ref, early, rest, late = _data()
    store.insert_frame("ref", ref)
    specs = _specs(store)
    _ingest(store, pd.concat([early, rest]))
    window_profile(cfg, store, _src(store), specs)
    store.insert_frame("logs", late)  # not through the ingest
    store.sent.clear()
    merged = window_profile(cfg, store, _src(store), specs)
    hour3 = (T0 + timedelta(hours=3) - EPOCH) // timedelta(hours=1)
    assert counted_windows(store) == 1 and merged.rows == len(early) + len(rest) + len(late)
    assert scanned_buckets(store) == [[hour3]]
    extra = _frame(30, 9).assign(ts=T0 + timedelta(hours=20, minutes=1))
    _ingest(store, extra)
    store.sent.clear()
    again = window_profile(cfg, store, _src(store), specs)
    assert counted_windows(store) == 0 and again.rows == merged.rows + len(extra)
    assert scanned_buckets(store) == [[hour3 + 17]]
    _assert_exact_and_close_to_one_scan(store, again, specs)


def test_an_hour_holding_only_another_models_rows_is_kept_empty_not_scanned_each_run(cfg: ModelConfig,
                                                                                      tmp_path: Path) -> None:
    store = RecordingDuckDB(tmp_path / "a.duckdb")
    ref, early, _, _ = _data()
    store.insert_frame("ref", ref)
    specs = _specs(store)
    other = _frame(20, 7).assign(model_name="other", ts=T0 + timedelta(hours=23, minutes=5))
    _ingest(store, pd.concat([early, other]))
    first = window_profile(cfg, store, _src(store), specs)
    assert first.rows == len(early)
    store.sent.clear()
    assert window_profile(cfg, store, _src(store), specs) == first
    assert scanned_buckets(store) == []  # hour 23 was profiled as empty for this model, and is kept so


def test_concurrent_ingests_both_land_and_their_counts_add_up(tmp_path: Path) -> None:
    """Two merges adding to the same minutes' kept counts at once: they take turns, neither fails."""
    import threading

    store = DuckDBStore(tmp_path / "a.duckdb")
    _, early, rest, _ = _data()
    day = pd.concat([early, rest]).sort_values("ts")
    _ingest(store, day.head(10))  # the table exists before the two merges race
    halves = (day.iloc[10::2], day.iloc[11::2])  # the same minutes in both
    for i, frame in enumerate(halves):
        store.insert_frame(f"_stage_{i}", frame)
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def load(stage: str) -> None:
        try:
            start.wait()
            store.merge_staged("logs", stage, "request_id", since_column="ts")
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(f"_stage_{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    signals = store.bucket_signals(_src(store), 3_600_000_000)
    assert signals is not None and sum(int(v[1:]) for v in signals.values()) == len(day)
    assert store.query(partials_in_sync(store))[0]["ok"]
    store.close()


def partials_in_sync(store: DuckDBStore) -> Any:
    from monitor.sql.partials import counts_key, in_sync_query

    return in_sync_query(counts_key(store.table("logs"), "ts"), store.table("logs"))


def test_kept_counts_are_per_timestamp_column(tmp_path: Path) -> None:
    """Two models reading one table by different timestamps must not read each other's kept minutes."""
    store = RecordingDuckDB(tmp_path / "two.duckdb")
    _, early, _, _ = _data()
    other = early.assign(ts2=early["ts"] + timedelta(hours=5))
    _ingest(store, other)  # kept counts by ts (the ingest's timestamp)
    by_ts2 = replace(_src(store), timestamp="ts2", end=T0 + timedelta(hours=24))
    signals = store.bucket_signals(by_ts2, 3_600_000_000)
    counts = store.query(bucket_counts_query(store.dialect, by_ts2, 3_600_000_000))
    assert signals == {int(r["b"]): f"t{r['n']}" for r in counts}  # counted by ts2, not ts's kept minutes
