"""Bench: what incremental, mergeable profiles cost (monitor/pipeline/profiles.py), beside a bare scan.

    .venv/bin/python bench/incremental.py [--days 90] [--per-day 100000] [--hourly-per-day 1000000] [--quick]
    .venv/bin/python bench/incremental.py --bigquery [--scale 100000000]

DuckDB (the seeded columns of bench/_common.py: 8 numerical, 2 categorical, plus a timestamp and a model):
- backfill: `--days` daily windows of `--per-day` rows. One grouped pass profiles every hourly bucket of the
  span (as `driftline backfill` does first), then each window counts its buckets and merges; beside one
  bare scan of the same columns of every row (bench/_common.py's scan_sql), and the same windows each
  profiled by one direct scan. Report building is not in it (it is timed apart by bench/run_cost.py).
- hourly: a 24h window of `--hourly-per-day` rows evaluated every hour: the window slid by one hour (one
  new bucket), and once with a late row in an already-profiled bucket, beside a full re-scan of the window.
BigQuery (`--bigquery`, on the emulator, which reports 0 bytes): the queries of the same hourly step are
recorded and their bytes estimated at `--scale` rows a day: for each query on the predictions table, the
columns it names times the rows of the hours its window parameters span (8 bytes a number or timestamp, a
string 2 + its length), with BigQuery's 10 MB minimum per query; beside the window's one-scan profile.
Writes bench/out/incremental.json.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import CATEGORICAL, NUMERIC, OUT, feature_sql, machine, scan_sql  # noqa: E402
from monitor.config import load_model_config  # noqa: E402
from monitor.pipeline.profiles import profile_buckets, window_profile  # noqa: E402
from monitor.sql import profiler as profiling  # noqa: E402
from monitor.sql.queries import Query, Source  # noqa: E402
from tests.conftest import write_config  # noqa: E402

T0 = datetime(2026, 1, 1)
HOUR = timedelta(hours=1)
MB = 10 * 2**20
SIZES = {"model_name": 2 + 1, "cat5": 2 + 2, "cat50": 2 + 3}  # BigQuery logical bytes (else 8)
COLS = [(c, "numerical", c) for c in NUMERIC] + [(c, "categorical", c) for c in CATEGORICAL]


def _logs_sql(table: str, rows: int, per_day: int, seed: int, start: int = 0) -> str:
    step_us = 86_400_000_000 // per_day
    return (f"CREATE OR REPLACE TABLE {table} AS SELECT 'r' || i AS request_id, "
            f"TIMESTAMP '{T0:%Y-%m-%d}' + to_microseconds(i * {step_us}) AS ts, 'm' AS model_name, "
            f"{', '.join(feature_sql(seed, 0.1))} FROM range({start}, {start + rows}) AS t(i)")


def _ingest(store: Any, table: str, rows: int, per_day: int, seed: int, start: int = 0) -> None:
    """Rows generated in SQL into a stage, merged as `driftline ingest` merges (the kept bucket counts too)."""
    store._con.execute(_logs_sql("_stage_bench", rows, per_day, seed, start))
    store.merge_staged(table, "_stage_bench", None, since_column="ts")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)  # every DuckDB thread's CPU: less noisy than wall under load
    return r.ru_utime + r.ru_stime


def _timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _measure(fn: Any, repeats: int = 1) -> dict[str, float]:
    """Best wall and best CPU seconds of `repeats` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        c = _cpu()
        walls.append(_timed(fn)[0])
        cpus.append(_cpu() - c)
    return {"wall_s": round(min(walls), 4), "cpu_s": round(min(cpus), 4)}


def _best(fn: Any, repeats: int = 3) -> float:
    return min(_timed(fn)[0] for _ in range(repeats))


def _ratio(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {"wall": round(a["wall_s"] / b["wall_s"], 3), "cpu": round(a["cpu_s"] / b["cpu_s"], 3)}


def _cfg(work: Path) -> Any:
    write_config(work, report="{evidently: false}")
    return load_model_config(work / "wheel-assembly.yaml")


def _src(store: Any, table: str, start: datetime, end: datetime) -> Source:
    return Source(table=store.table(table), timestamp="ts", start=start, end=end, model_column="model_name",
                  model="m")


def duckdb_phases(work: Path, days: int, per_day: int, hourly_per_day: int, only: str | None) -> dict[str, Any]:
    from monitor.stores.duckdb import DuckDBStore

    store = DuckDBStore(work / "b.duckdb")
    cfg = _cfg(work)
    con = store._con  # the bench's own data, generated in SQL
    con.execute(f"CREATE OR REPLACE TABLE ref AS SELECT {', '.join(feature_sql(1, 0.0))} FROM range(50000) AS t(i)")
    gen, _ = _timed(lambda: _ingest(store, "logs", days * per_day, per_day, 2) if only != "hourly" else 0)
    if only != "backfill":
        _ingest(store, "hourly", 26 * hourly_per_day // 24, hourly_per_day, 3)
    con.execute("CHECKPOINT")
    specs = list(profiling.build_specs(store, Source(table=store.table("ref")), COLS, 20, 20).values())
    out: dict[str, Any] = {"generate_seconds": round(gen, 1)}
    if only != "hourly":
        out["backfill"] = _backfill(store, cfg, specs, days, per_day)
    if only != "backfill":
        out["hourly"] = _hourly(store, cfg, specs, hourly_per_day)
    store.close()
    return out


def _backfill(store: Any, cfg: Any, specs: list[Any], days: int, per_day: int) -> dict[str, Any]:
    con = store._con
    bare_sql = scan_sql('"logs"')
    con.execute(bare_sql).fetchall()
    bare = _measure(lambda: con.execute(bare_sql).fetchall(), 3)
    end = T0 + timedelta(days=days)
    whole = _src(store, "logs", T0, end)
    one = _measure(lambda: profiling.profile(store, whole, specs), 2)  # one direct profile of every row
    grouped = _measure(lambda: profile_buckets(cfg, store, whole, specs, HOUR))
    windows = [(T0 + timedelta(days=d), T0 + timedelta(days=d + 1)) for d in range(days)]
    merges = _measure(lambda: [window_profile(cfg, store, _src(store, "logs", s, e), specs) for s, e in windows])
    direct = _measure(lambda: [profiling.profile(store, _src(store, "logs", s, e), specs) for s, e in windows])
    total = {k: grouped[k] + merges[k] for k in grouped}
    return {
        "windows": days, "rows": days * per_day, "bare_scan": bare, "one_direct_profile_of_all_rows": one,
        "grouped_pass": grouped, "windows_count_and_merge": merges, "profile_total": total,
        "ratio_to_bare_scan": _ratio(total, bare), "ratio_to_one_direct_profile": _ratio(total, one),
        "grouped_pass_ratio_to_bare_scan": _ratio(grouped, bare), "one_direct_profile_ratio_to_bare_scan":
        _ratio(one, bare), "direct_per_window": direct, "direct_per_window_ratio_to_bare_scan": _ratio(direct, bare)}


def _hourly(store: Any, cfg: Any, specs: list[Any], hourly_per_day: int) -> dict[str, Any]:
    src0 = _src(store, "hourly", T0, T0 + timedelta(hours=24))
    window_profile(cfg, store, src0, specs)  # the first 24 hours, profiled once
    full = _measure(lambda: profiling.profile(store, src0, specs), 3)
    slides = []
    for h in (1, 2):  # each slide adds one new bucket (ingested up front: the kept counts have it)
        src = replace(src0, start=T0 + h * HOUR, end=T0 + (24 + h) * HOUR)
        slides.append(_measure(lambda src=src: window_profile(cfg, store, src, specs)))
    slide = min(slides, key=lambda m: m["cpu_s"])
    at2 = replace(src0, start=T0 + 2 * HOUR, end=T0 + 26 * HOUR)
    steady = _measure(lambda: window_profile(cfg, store, at2, specs), 3)
    per_hour = hourly_per_day // 24
    late_sql = (f"SELECT * REPLACE ('late-' || request_id AS request_id, TIMESTAMP '{T0 + 5 * HOUR:%Y-%m-%d %H:%M}' "
                "AS ts) FROM hourly LIMIT 1")
    store._con.execute(f"CREATE OR REPLACE TABLE _stage_late AS {late_sql}")
    store.merge_staged("hourly", "_stage_late", "request_id", since_column="ts")  # a late row, ingested
    late = _measure(lambda: window_profile(cfg, store, at2, specs))
    # The same step when the kept counts cannot tell (a row written past the ingest): the window is counted.
    store._con.execute("INSERT INTO hourly " + late_sql.replace("'late-'", "'own-'"))
    fallback = _measure(lambda: window_profile(cfg, store, at2, specs))
    return {
        "window_rows": hourly_per_day, "new_hour_rows": per_hour, "full_rescan": full, "slide_one_new_hour": slide,
        "ratio_to_full_rescan": _ratio(slide, full), "nothing_new": steady,
        "late_row_in_profiled_hour": late, "late_ratio_to_full_rescan": _ratio(late, full),
        "row_written_past_the_ingest_counted": fallback, "counted_ratio_to_full_rescan": _ratio(fallback, full)}


def _estimate(q: Query, table: str, per_day: int, columns: list[str], partition_hours: int) -> int:
    """Billed bytes: the named columns of every partition (of `partition_hours`) the window range touches."""
    if table not in q.sql or "w_start" not in q.params:
        return 0
    size = partition_hours * HOUR
    first, end = (q.params["w_start"] - T0) // size, -((T0 - q.params["w_end"]) // size)
    width = sum(SIZES.get(c, 8) for c in columns if re.search(rf"\b{c}\b", q.sql))
    return max(MB, int((end - first) * partition_hours * per_day / 24 * width))


def bigquery_bytes(work: Path, scale: int) -> dict[str, Any]:
    from tests.monitor.stores.emulator import Emulator
    from tests.monitor.stores.recording import RecordingStore

    emulator = Emulator(work / "emu")
    emulator.start()
    try:
        client = emulator.client()
        store = RecordingStore(client, "bench_incremental", retries=1, backoff=0.05, timeout=60)
        store.init()
        import duckdb

        con = duckdb.connect()
        con.execute(f"CREATE TABLE ref AS SELECT {', '.join(feature_sql(1, 0.0))} FROM range(4000) AS t(i)")
        con.execute(_logs_sql("logs", 26 * 100, 2400, 2))
        store.insert_frame("ref", con.execute("SELECT * FROM ref").df())
        store.insert_frame("logs", con.execute("SELECT * FROM logs").df())
        cfg = _cfg(work)
        specs = list(profiling.build_specs(store, Source(table=store.table("ref")), COLS, 20, 20).values())
        src0 = _src(store, "logs", T0, T0 + 24 * HOUR)
        window_profile(cfg, store, src0, specs)
        store.sent.clear()
        slid = replace(src0, start=T0 + HOUR, end=T0 + 25 * HOUR)
        window_profile(cfg, store, slid, specs)
        hourly = list(store.sent)
        store.sent.clear()
        profiling.profile(store, slid, specs)
        full = list(store.sent)
    finally:
        emulator.stop()
    columns = ["request_id", "ts", "model_name", *NUMERIC, *CATEGORICAL]
    table = store.table("logs")
    out: dict[str, Any] = {"scale_rows_per_day": scale, "step": "a 24h window slid from [00:00, 24:00) to "
                           "[01:00, 25:00) of day one: one new bucket, the window across two days"}
    for layout, hours in (("day_partitions", 24), ("hour_partitions", 1)):
        per_query = [(_estimate(q, table, scale, columns, hours), q.sql[:70]) for q in hourly]
        hourly_bytes = sum(b for b, _ in per_query)
        window_bytes = sum(_estimate(q, table, scale, columns, hours) for q in full)
        out[layout] = {"hourly_run_bytes": hourly_bytes, "window_bytes": window_bytes,
                       "ratio": round(hourly_bytes / window_bytes, 4), "queries": per_query}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--per-day", type=int, default=100_000)
    ap.add_argument("--hourly-per-day", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="3 days of 10k rows, a 100k-row hourly window")
    ap.add_argument("--only", choices=["backfill", "hourly"], help="one of the two DuckDB phases")
    ap.add_argument("--bigquery", action="store_true", help="the emulator's hourly step, bytes estimated")
    ap.add_argument("--scale", type=int, default=100_000_000, help="rows a day for the BigQuery estimate")
    args = ap.parse_args(argv)
    if args.quick:
        args.days, args.per_day, args.hourly_per_day = 3, 10_000, 100_000
    OUT.mkdir(exist_ok=True)
    path = OUT / "incremental.json"
    result: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    result["machine"] = machine()
    with tempfile.TemporaryDirectory(prefix="incremental-") as tmp:
        if args.bigquery:
            result["bigquery"] = bigquery_bytes(Path(tmp), args.scale)
        else:
            got = duckdb_phases(Path(tmp), args.days, args.per_day, args.hourly_per_day, args.only)
            if "hourly" in got:  # each size kept beside the others
                got[f"hourly_{args.hourly_per_day}"] = got.pop("hourly")
            result.setdefault("duckdb", {}).update(got)
    path.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
