"""Bench: the SQL shapes tried for a backfill's grouped profile pass (issue 19), on one table, beside a bare scan.

    .venv/bin/python bench/profile_shapes.py [--days 90] [--per-day 100000]

`--days` x `--per-day` rows of bench/_common.py's columns (8 numerical, 2 categorical) with a timestamp;
each shape run twice, best CPU seconds of the process (every DuckDB thread) and wall, as a ratio to the
bare scan of bench/_common.py's scan_sql. The shapes: the production profile (monitor.sql.queries.
profile_query) ungrouped, grouped by hour and by day, with the bucket as a small integer offset; the bins
alone as cumulative COUNT_IF per edge (grouped and not), as a CASE-tree bin index with GROUPING SETS, and
as UNPIVOT + GROUP BY (bucket, column, bin); the bin index as a sum of comparisons. Writes
bench/out/profile_shapes.json. docs/scale.md ("Incremental profiles") quotes it.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import NUMERIC, OUT, feature_sql, machine, scan_sql  # noqa: E402
from bench.incremental import COLS, T0, _logs_sql, _src  # noqa: E402
from monitor.sql import profiler as profiling  # noqa: E402
from monitor.sql.queries import Source, profile_query  # noqa: E402

EPOCH = datetime(1970, 1, 1)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _tree(c: str, edges: tuple[float, ...], lo: int = 0, hi: int | None = None) -> str:
    """The bin index of `c` by binary search: nested CASE on the edges."""
    hi = len(edges) if hi is None else hi
    if lo == hi:
        return str(lo)
    mid = (lo + hi) // 2
    return f"CASE WHEN {c} >= {edges[mid]} THEN {_tree(c, edges, mid + 1, hi)} ELSE {_tree(c, edges, lo, mid)} END"


def _bounds(spec: Any) -> str:
    """histogram()'s bounds as before issue 19: the edges lowered by one ulp (x < e <=> x <= e-), the range."""
    low = math.nextafter(spec.ref_min, -math.inf)
    return "[" + ", ".join(repr(b) for b in sorted({low, *(math.nextafter(e, -math.inf) for e in spec.edges),
                                                     spec.ref_max})) + "]::DOUBLE[]"


def shapes(store: Any, days: int) -> dict[str, tuple[str, dict[str, Any]]]:
    specs = profiling.build_specs(store, Source(table=store.table("ref")), COLS, 20, 20)
    src = _src(store, "logs", T0, T0 + timedelta(days=days))
    out: dict[str, tuple[str, dict[str, Any]]] = {"bare scan": (scan_sql('"logs"'), {})}
    for name, bucket in (("profile, ungrouped", None), ("profile, GROUP BY hour", 3_600_000_000),
                         ("profile, GROUP BY day", 86_400_000_000)):
        q = profile_query(store.dialect, src, list(specs.values()), bucket_us=bucket)
        out[name] = (q.sql, q.params)
    q = profile_query(store.dialect, src, list(specs.values()), bucket_us=3_600_000_000)
    start_us = (T0 - EPOCH) // timedelta(microseconds=1)
    out["profile, GROUP BY hour as a USMALLINT offset"] = (q.sql.replace(
        '(epoch_us(r."ts") // $bucket_us) AS bkt', f'CAST((epoch_us(r."ts") - {start_us}) // $bucket_us AS USMALLINT) AS bkt'),
        q.params)
    where = f"WHERE ts >= TIMESTAMP '{T0}' AND ts < TIMESTAMP '{T0 + timedelta(days=days)}' AND model_name = 'm'"
    fin = ", ".join(f"CASE WHEN isfinite({c}) THEN {c} END AS {c}" for c in NUMERIC)
    inner = f"(SELECT epoch_us(ts) // 3600000000 AS bkt, {fin} FROM logs {where}) AS w"
    cum = ", ".join(f"COUNT_IF({c} >= {e})" for c in NUMERIC for e in specs[c].edges)  # type: ignore[attr-defined]
    out["bins alone: cumulative COUNT_IF, ungrouped"] = (f"SELECT {cum} FROM {inner}", {})
    out["bins alone: cumulative COUNT_IF, GROUP BY hour"] = (f"SELECT bkt, {cum} FROM {inner} GROUP BY bkt", {})
    hist = ", ".join(f"histogram({c}, {_bounds(specs[c])})" for c in NUMERIC)  # type: ignore[arg-type]
    out["bins alone: histogram(x, bounds), ungrouped (the shape before issue 19)"] = (f"SELECT {hist} FROM {inner}", {})
    idx = ", ".join(f"({_tree(c, specs[c].edges)})::UTINYINT AS i_{c}" for c in NUMERIC)  # type: ignore[attr-defined]
    coded = f"(SELECT bkt, {idx} FROM {inner}) AS v"
    sets = ", ".join(f"(bkt, i_{c})" for c in NUMERIC)
    out["bins alone: CASE-tree index, GROUPING SETS (hour, bin)"] = (
        f"SELECT bkt, {', '.join(f'i_{c}' for c in NUMERIC)}, COUNT(*) FROM {coded} GROUP BY GROUPING SETS ({sets})", {})
    out["bins alone: CASE-tree index, UNPIVOT, GROUP BY (hour, column, bin)"] = (
        f"SELECT bkt, name, value, COUNT(*) FROM (UNPIVOT (SELECT * FROM {coded}) ON "
        f"{', '.join(f'i_{c}' for c in NUMERIC)}) GROUP BY ALL", {})
    summed = ", ".join("MAX(" + " + ".join(f"({c} >= {e})::UTINYINT" for e in specs[c].edges) + ")"  # type: ignore[attr-defined]
                       for c in NUMERIC)
    out["bin index as a sum of comparisons (MAX of it)"] = (f"SELECT {summed} FROM {inner}", {})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--per-day", type=int, default=100_000)
    ap.add_argument("--only", help="the shapes whose name contains this (and the bare scan)")
    args = ap.parse_args(argv)
    from monitor.stores.duckdb import DuckDBStore

    result: dict[str, Any] = {"machine": machine(), "rows": args.days * args.per_day, "shapes": {}}
    with tempfile.TemporaryDirectory(prefix="profile-shapes-") as tmp:
        store = DuckDBStore(Path(tmp) / "s.duckdb")
        con = store._con
        con.execute(f"CREATE TABLE ref AS SELECT {', '.join(feature_sql(1, 0.0))} FROM range(50000) AS t(i)")
        con.execute(_logs_sql("logs", args.days * args.per_day, args.per_day, 2))
        con.execute("CHECKPOINT")
        bare: dict[str, float] = {}
        for name, (sql, params) in shapes(store, args.days).items():
            if args.only and name != "bare scan" and args.only not in name:
                continue
            con.execute(sql, params).fetchall()
            walls, cpus = [], []
            for _ in range(2):
                c, t = _cpu(), time.perf_counter()
                con.execute(sql, params).fetchall()
                walls.append(time.perf_counter() - t)
                cpus.append(_cpu() - c)
            got = {"wall_s": round(min(walls), 3), "cpu_s": round(min(cpus), 3)}
            bare = bare or got
            got |= {"wall_x_bare": round(got["wall_s"] / bare["wall_s"], 1),
                    "cpu_x_bare": round(got["cpu_s"] / bare["cpu_s"], 1)}
            result["shapes"][name] = got
            print(f"{name}: {got}", flush=True)
        store.close()
    OUT.mkdir(exist_ok=True)
    if args.only:
        return 0
    (OUT / "profile_shapes.json").write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
