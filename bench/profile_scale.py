"""Scale benchmark of issue 2: profile and decide a 1,000,000-row window against one DuckDB scan.

    .venv/bin/python bench/profile_scale.py                 # 1,000,000 rows, with the query-shape experiments
    .venv/bin/python bench/profile_scale.py --rows 100000 --no-experiments

The window (8 numerical, 2 categorical features) and a 50,000-row reference are generated
inside DuckDB (bench/_common.py); specs are fixed from the reference. Each measurement runs in
a fresh process: monitor.sql.profiler.profile + monitor.drift.decision.decide (wall, CPU, peak RSS),
and a query reading the same columns once (best of 3 after a warm-up). Acceptance: peak
memory < 500 MB, time < 5 x the scan. The experiments time the production query on each kind
of feature alone and the other SQL shapes we tried for each aggregate family (docs/scale.md).
Results: bench/out/profile_scale.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CATEGORICAL,
    NUMERIC,
    OUT,
    REF_ROWS,
    best_of,
    build_reference,
    child,
    generate,
    machine,
    scan_sql,
)

from monitor.schema.profile import CategoricalSpec, NumericSpec, Spec

MEMORY_MB, TIMES_SCAN = 500, 5

# ---- where the time goes, and the shapes we tried (DuckDB only) ------------------------------


def _lowered(edges: Sequence[float]) -> list[float]:
    # histogram(x, bounds) counts x <= bound; x < e  <=>  x <= nextafter(e, -inf) for doubles
    return [float(np.nextafter(e, -np.inf)) for e in edges]


def _tree(c: str, edges: Sequence[float], lo: int, hi: int) -> str:
    """A binary CASE tree giving the bin index of c (an alternative to histogram's own search)."""
    if lo == hi:
        return str(lo)
    mid = (lo + hi) // 2
    return f"CASE WHEN {c} < {edges[mid]!r} THEN {_tree(c, edges, lo, mid)} ELSE {_tree(c, edges, mid + 1, hi)} END"


def _ladder(s: NumericSpec) -> list[str]:
    """The CASE ladder: one SUM per bin (what the BigQuery dialect still uses)."""
    fin = f"isfinite({s.expr})"
    out = []
    for b in range(s.bins):
        conds = [fin] + ([f"{s.expr} >= {s.edges[b - 1]!r}"] if b else []) + (
            [f"{s.expr} < {s.edges[b]!r}"] if b < s.bins - 1 else [])
        out.append(f"SUM(CASE WHEN {' AND '.join(conds)} THEN 1 ELSE 0 END)")
    return out


def _lit(values: Sequence[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def variants(table: str, specs: Sequence[Spec]) -> dict[str, str]:
    """Queries over the same rows: one aggregate family alone, or another shape for it."""
    num = [s for s in specs if isinstance(s, NumericSpec)]
    cat = [s for s in specs if isinstance(s, CategoricalSpec)]
    fin = {s.name: f"CASE WHEN isfinite({s.expr}) THEN {s.expr} END" for s in num}

    def select(items: Sequence[str]) -> str:
        return f"SELECT {', '.join(items)} FROM {table}"

    tree = [f"histogram(CASE WHEN isfinite({s.expr}) THEN {_tree(s.expr, s.edges, 0, s.bins - 1)} END)" for s in num]
    idx = ", ".join(f"CASE WHEN isfinite({s.expr}) THEN {_tree(s.expr, s.edges, 0, s.bins - 1)} END AS b{i}"
                    for i, s in enumerate(num))
    sets = ", ".join(f"(b{i})" for i in range(len(num)))
    return {
        "bins: histogram(x, bounds) (production)": select(
            [f"histogram({fin[s.name]}, {_lowered(s.edges)})" for s in num]),
        "bins: CASE ladder, one SUM per bin": select([a for s in num for a in _ladder(s)]),
        "bins: CASE-tree index + histogram": select(tree),
        "bins: CASE-tree index + GROUPING SETS":
            f"SELECT COUNT(*) FROM (SELECT {idx} FROM {table}) GROUP BY GROUPING SETS ({sets})",
        "moments: nulls, inf, min, max, AVG, VAR_POP (production)": select(
            [a for s in num for a in (f"SUM(CASE WHEN {s.expr} IS NULL OR isnan({s.expr}) THEN 1 ELSE 0 END)",
                                      f"SUM(CASE WHEN isinf({s.expr}) THEN 1 ELSE 0 END)", f"MIN({fin[s.name]})",
                                      f"MAX({fin[s.name]})", f"AVG({fin[s.name]})", f"VAR_POP({fin[s.name]})")]),
        "moments: VAR_POP alone": select([f"VAR_POP({fin[s.name]})" for s in num]),
        "moments: sums centred on a constant": select(
            [a for s in num for a in (f"SUM({fin[s.name]} - 1.0)", f"SUM(({fin[s.name]} - 1.0) * ({fin[s.name]} - 1.0))")]),
        "categories: K x COUNT(CASE c = t) + list_contains (previous production)": select(
            [a for s in cat for a in [f"COUNT(CASE WHEN {s.expr} = '{t}' THEN 1 END)" for t in s.top]
             + [(f"COUNT(CASE WHEN list_contains({_lit(s.known)}, {s.expr}) AND NOT "
                 f"list_contains({_lit(s.top)}, {s.expr}) THEN 1 END)"),
                f"COUNT(CASE WHEN NOT list_contains({_lit(s.known)}, {s.expr}) THEN 1 END)"]]),
        "categories: histogram(list_position(top, c)) + list_contains": select(
            [a for s in cat for a in (f"histogram(list_position({_lit(s.top)}, {s.expr}))",
                                      f"COUNT(CASE WHEN NOT list_contains({_lit(s.known)}, {s.expr}) THEN 1 END)")]),
        "categories: raw histogram(c) (unbounded memory: not used)": select([f"histogram({s.expr})" for s in cat]),
    }


def _fetch(con: Any, sql: str, params: dict[str, Any] | None) -> list[Any]:
    return con.execute(sql, params).fetchall()


def run_variant(args: dict[str, Any]) -> dict[str, Any]:
    """Child mode: time the production query, its parts (numerical / categorical features alone,
    through the same profile_query) and the alternative shapes, each best of `repeats` after a warm-up."""
    from monitor.sql import profiler as profiling
    from monitor.sql.queries import DUCKDB, Source, profile_query
    from monitor.stores.duckdb import DuckDBStore

    saved = json.loads(Path(args["reference"]).read_text())
    specs = list(profiling.specs_from_json(saved["specs"]).values())
    store = DuckDBStore(args["db"], read_only=True)
    con = store._con
    for key in ("threads", "memory_limit"):
        if args.get(key) is not None:
            con.execute(f"SET {key} = '{args[key]}'")
    table, repeats = args["table"], args.get("repeats", 3)
    src = Source(table=store.table(table))
    shapes: dict[str, tuple[str, dict[str, Any]]] = {}
    for label, subset in (("all features", specs),
                          ("numerical features only", [s for s in specs if isinstance(s, NumericSpec)]),
                          ("categorical features only", [s for s in specs if isinstance(s, CategoricalSpec)])):
        q = profile_query(DUCKDB, src, subset)
        shapes[f"production profile_query: {label}"] = (q.sql, q.params)
    shapes.update({name: (sql, {}) for name, sql in variants(table, specs).items()})
    shapes["scan: SUM/MAX of each column"] = (scan_sql(table), {})
    out: dict[str, Any] = {}
    for name, (sql, params) in shapes.items():
        run = functools.partial(_fetch, con, sql, params or None)
        run()  # warm-up, as the scan gets
        timing = best_of(run, repeats)
        del timing["result"]
        out[name] = timing
    return out


# ---- the benchmark -----------------------------------------------------------------------


def prepare(db: Path, sizes: Sequence[int], *, fresh: bool) -> dict[str, Any]:
    """Generate the reference and one window table per size (reused unless fresh)."""
    import duckdb

    existing: set[str] = set()
    if db.exists() and not fresh:
        con = duckdb.connect(str(db), read_only=True)
        existing = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        con.close()
    elif db.exists():
        db.unlink()
    seconds: dict[str, float] = {}
    if "reference" not in existing:
        seconds["reference"] = generate(db, "reference", REF_ROWS, seed=1)
    for rows in sizes:
        if f"w_{rows}" not in existing:
            # x0 shifted by 0.3 reference std in the window: one feature really drifts.
            seconds[f"w_{rows}"] = generate(db, f"w_{rows}", rows, seed=1000 + rows % 997, shift=0.3)
    ref_json = build_reference(db, "reference", db.with_suffix(".reference.json"))
    return {"generate_seconds": seconds, "reference": str(ref_json)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-experiments", action="store_true")
    parser.add_argument("--fresh", action="store_true", help="regenerate the data")
    parser.add_argument("--memory-limit", help="experiment: DuckDB memory_limit for every measurement, e.g. 150MB")
    parser.add_argument("--threads", type=int, help="experiment: DuckDB threads")
    opts = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    db = OUT / "scale.duckdb"
    prep = prepare(db, [opts.rows], fresh=opts.fresh)
    table = f"w_{opts.rows}"
    common = {"db": str(db), "table": table, "reference": prep["reference"], "repeats": opts.repeats,
              "memory_limit": opts.memory_limit, "threads": opts.threads}
    load = os.getloadavg()  # the machine is shared: a busy one stretches wall time, not CPU time
    scan = child("scan", common)
    prof = child("profile", common)
    result: dict[str, Any] = {
        "rows": opts.rows, "load_average": load,
        "duckdb_settings": {"memory_limit": opts.memory_limit, "threads": opts.threads},
        "features": {"numerical": NUMERIC, "categorical": CATEGORICAL},
        "machine": machine(), "scan": scan, "profile_and_decide": prof, **prep,
    }
    ratio = prof["seconds"] / scan["seconds"]
    cpu_ratio = prof["cpu_seconds"] / scan["cpu_seconds"]
    result["acceptance"] = {"peak_rss_mb": prof["peak_rss_mb"], "memory_ok": prof["peak_rss_mb"] < MEMORY_MB,
                            "times_scan": ratio, "cpu_times_scan": cpu_ratio, "time_ok": ratio < TIMES_SCAN}
    print(f"{opts.rows:,} rows, 8 numerical + 2 categorical; machine {result['machine']['nproc']} cores")
    print(f"{'measurement':42} {'wall s':>8} {'cpu s':>8} {'peak MB':>8}")
    print(f"{'DuckDB scan of the columns (best of 3)':42} {scan['seconds']:8.3f} {scan['cpu_seconds']:8.3f} "
          f"{scan['peak_rss_mb']:8.0f}")
    print(f"{'profile + decide (best of 3)':42} {prof['seconds']:8.3f} {prof['cpu_seconds']:8.3f} "
          f"{prof['peak_rss_mb']:8.0f}")
    print(f"  of which decide: {prof['decide_seconds']:.3f} s; drifted: {prof['drifted']}")
    print(f"acceptance: memory {prof['peak_rss_mb']:.0f} MB < {MEMORY_MB}: {result['acceptance']['memory_ok']}; "
          f"time {ratio:.1f}x scan (cpu {cpu_ratio:.1f}x) < {TIMES_SCAN}x: {result['acceptance']['time_ok']}")
    if not opts.no_experiments:
        exp = child("variant", common)
        result["experiments"] = exp
        head = f"{'wall s':>8} {'x scan':>7} {'cpu s':>7} {'x scan':>7}"
        print(f"\nexperiments (same rows; best of 3 by wall time)  {head}")
        for name, t in exp.items():
            if "error" in t:
                print(f"  {name:48} {t['error']}")
                continue
            print(f"  {name:72} {t['seconds']:8.3f} {t['seconds'] / scan['seconds']:6.1f}x {t['cpu_seconds']:7.3f} "
                  f"{t['cpu_seconds'] / scan['cpu_seconds']:6.1f}x")
    name = "profile_scale" + ("" if opts.rows == 1_000_000 else f"_{opts.rows}")
    name += ".json" if opts.memory_limit is None and opts.threads is None else "_settings.json"
    (OUT / name).write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwrote {OUT / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
