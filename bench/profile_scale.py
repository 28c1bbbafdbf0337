"""Scale benchmark of issue 2: profile and decide a 1,000,000-row window against one DuckDB scan.

    .venv/bin/python bench/profile_scale.py                 # 1,000,000 rows, with the query-shape experiments
    .venv/bin/python bench/profile_scale.py --rows 100000 --no-experiments

The window (8 numerical, 2 categorical features) and a 50,000-row reference are generated
inside DuckDB (bench/_common.py); specs are fixed from the reference. Each measurement runs in
a fresh process: monitor.profiling.profile + monitor.decision.decide (wall, CPU, peak RSS),
and a query reading the same columns once (best of 3 after a warm-up). Acceptance: peak
memory < 500 MB, time < 5 x the scan. The experiments time each part of the production query
and alternative SQL shapes for the same profile (checked equal to the production profile),
so the lead can adopt a faster shape with evidence. Results: bench/out/profile_scale.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
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
    decide_all,
    generate,
    machine,
    peak_mb,
    scan_sql,
)

from monitor.profile import (
    CategoricalProfile,
    NumericProfile,
    NumericSpec,
    Spec,
    WindowProfile,
)

MEMORY_MB, TIMES_SCAN = 500, 5

# ---- alternative query shapes (experiments; DuckDB only) -----------------------------------


def _lowered(edges: Sequence[float]) -> list[float]:
    # DuckDB's histogram(x, bounds) counts x <= bound; x < e  <=>  x <= nextafter(e, -inf) for doubles,
    # so these bounds give exactly Driftline's left-closed bins [e_{i-1}, e_i).
    return [float(np.nextafter(e, -np.inf)) for e in edges]


def _bounds(spec: NumericSpec) -> list[float]:
    """Histogram bounds: the bin edges plus the reference range, so one histogram also counts
    the values below the reference minimum and above its maximum."""
    lo = float(np.nextafter(spec.ref_min, -np.inf))
    return sorted({lo, *_lowered(spec.edges), float(spec.ref_max)})


def _fold(spec: NumericSpec, hist: dict[float, int]) -> tuple[list[int], int, int]:
    """Bin counts, below-range and above-range counts from a histogram on _bounds(spec)."""
    edges = _lowered(spec.edges)
    below = above = 0
    bins = [0] * spec.bins
    lo = float(np.nextafter(spec.ref_min, -np.inf))
    for bound, count in hist.items():
        count = int(count)
        if bound == lo:
            below += count  # x < ref_min: also in bin 0
        if bound == math.inf:
            above += count  # x > ref_max: in the last bin
        # the bucket of bound b holds (previous bound, b]: its bin is the number of edges below b
        bins[int(np.searchsorted(edges, bound, side="left"))] += count
    return bins, below, above


def proposed_query(table: str, specs: Sequence[Spec], ref: WindowProfile, *, raw_categories: bool) -> tuple[str, dict]:
    """The same profile in one scan, but binned by DuckDB's native histogram(x, bounds).

    Moments are sums centred on the reference mean (cheaper than VAR_POP's per-row
    division, and as accurate because the centre is close to the data). Categories are either
    bucketed in SQL (known / unseen; bounded) or counted raw (fastest; unbounded cardinality).
    """
    params: dict[str, Any] = {}
    inner, aggs = [], ["COUNT(*) AS n"]
    for i, spec in enumerate(specs):
        c = f"c{i}"
        if isinstance(spec, NumericSpec):
            inner.append(f"CAST({spec.expr} AS DOUBLE) AS {c}")
            fin = f"CASE WHEN isfinite({c}) THEN {c} END"
            inner.append(f"{fin} AS f{i}")
            ref_p = ref.features[spec.name]
            params[f"{c}_m"] = float(ref_p.mean or 0.0) if isinstance(ref_p, NumericProfile) else 0.0
            params[f"{c}_e"] = _bounds(spec)
            d = f"(f{i} - ${c}_m)"
            aggs += [f"COUNT(f{i}) AS {c}_valid", f"SUM(isinf({c})::INT) AS {c}_inf",
                     f"MIN(f{i}) AS {c}_min", f"MAX(f{i}) AS {c}_max",
                     f"SUM({d}) AS {c}_s1", f"SUM({d} * {d}) AS {c}_s2", f"histogram(f{i}, ${c}_e) AS {c}_hist"]
        else:
            inner.append(f"CAST({spec.expr} AS VARCHAR) AS {c}")
            if raw_categories:
                aggs.append(f"histogram({c}) AS {c}_hist")
            else:
                # Bounded whatever the window's cardinality: one count per top category, other, unseen.
                # (histogram over a CASE that maps unknowns to one key measured ~170 MB more: not used.)
                params[f"{c}_known"], params[f"{c}_top"] = list(spec.known), list(spec.top)
                for k, cat in enumerate(spec.top):
                    params[f"{c}_t{k}"] = cat
                    aggs.append(f"COUNT(CASE WHEN {c} = ${c}_t{k} THEN 1 END) AS {c}_k{k}")
                aggs.append(f"COUNT(CASE WHEN NOT list_contains(${c}_top, {c}) THEN 1 END) AS {c}_rest")
                aggs.append(f"COUNT(CASE WHEN NOT list_contains(${c}_known, {c}) THEN 1 END) AS {c}_unseen")
            aggs.append(f"COUNT({c}) AS {c}_valid")
    return f"SELECT {', '.join(aggs)} FROM (SELECT {', '.join(inner)} FROM {table}) AS w", params


def parse_proposed(row: dict[str, Any], specs: Sequence[Spec]) -> WindowProfile:
    """The proposed query's row as the same WindowProfile the production parser returns."""
    n = int(row["n"])
    out: dict[str, NumericProfile | CategoricalProfile] = {}
    for i, spec in enumerate(specs):
        c = f"c{i}"
        if isinstance(spec, NumericSpec):
            valid, inf = int(row[f"{c}_valid"]), int(row[f"{c}_inf"] or 0)
            bins, below, above = _fold(spec, row[f"{c}_hist"] or {})
            m1 = row[f"{c}_s1"] / valid if valid else None
            mean = None if m1 is None else row[f"{c}_centre"] + m1  # the centre the sums were taken about
            var = None if m1 is None else max(row[f"{c}_s2"] / valid - m1 * m1, 0.0)
            out[spec.name] = NumericProfile(
                name=spec.name, count=n, nulls=n - valid - inf, infinite=inf, min=row[f"{c}_min"],
                max=row[f"{c}_max"], mean=mean, variance=var, bin_counts=tuple(bins),
                below_range=below, above_range=above)
        elif f"{c}_hist" not in row:
            rest, unseen_n = int(row[f"{c}_rest"]), int(row[f"{c}_unseen"])
            out[spec.name] = CategoricalProfile(
                name=spec.name, count=n, nulls=n - int(row[f"{c}_valid"]), categories=spec.top,
                counts=tuple(int(row[f"{c}_k{k}"]) for k in range(len(spec.top))), other=rest - unseen_n,
                unseen=unseen_n, unseen_values=())  # as production: a second, rare query fetches the values
        else:
            hist = {str(k): int(v) for k, v in (row[f"{c}_hist"] or {}).items()}
            known = set(spec.known)
            unseen = {k: v for k, v in hist.items() if k not in known}
            other = sum(v for k, v in hist.items() if k in known and k not in spec.top)
            out[spec.name] = CategoricalProfile(
                name=spec.name, count=n, nulls=n - int(row[f"{c}_valid"]), categories=spec.top,
                counts=tuple(hist.get(t, 0) for t in spec.top), other=other, unseen=sum(unseen.values()),
                unseen_values=tuple(k for k, _ in sorted(unseen.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
))
    return WindowProfile(rows=n, features=out)


def run_proposed(con: Any, table: str, specs: Sequence[Spec], ref: WindowProfile, raw: bool) -> WindowProfile:
    sql, params = proposed_query(table, specs, ref, raw_categories=raw)
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    row = dict(zip(names, cur.fetchone()))
    for i, spec in enumerate(specs):
        if isinstance(spec, NumericSpec):
            row[f"c{i}_centre"] = params[f"c{i}_m"]
    return parse_proposed(row, specs)


def _split_select(sql: str) -> tuple[list[str], str]:
    """The production query's aggregates (split at top-level commas) and its FROM clause."""
    head, sep, rest = sql.partition(" FROM (SELECT ")
    items, depth, cur = [], 0, ""
    for ch in head[len("SELECT "):]:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    items.append(cur.strip())
    return items, sep + rest


_PARTS: dict[str, Callable[[str], bool]] = {
    "moments+nulls": lambda a: a.rsplit("_", 1)[-1] in {"nulls", "inf", "min", "max", "mean", "var"}
    and int(a.rsplit(" c", 1)[-1].split("_")[0]) < len(NUMERIC),
    "range": lambda a: a.endswith(("_below", "_above")),
    "bins (CASE ladder)": lambda a: a.rsplit("_", 1)[-1][:1] == "b" and a.rsplit("_", 1)[-1][1:].isdigit(),
    "categories": lambda a: int(a.rsplit(" c", 1)[-1].split("_")[0]) >= len(NUMERIC) if " c" in a else False,
}


def _tree(c: str, edges: Sequence[float], lo: int, hi: int) -> str:
    if lo == hi:
        return str(lo)
    mid = (lo + hi) // 2
    return f"CASE WHEN {c} < {edges[mid]!r} THEN {_tree(c, edges, lo, mid)} ELSE {_tree(c, edges, mid + 1, hi)} END"


def bin_variants(table: str, specs: Sequence[Spec]) -> dict[str, str]:
    """Other shapes of the 8 histograms alone (same bins), to compare with the CASE ladder."""
    num = [s for s in specs if isinstance(s, NumericSpec)]
    fin = [f"CASE WHEN isfinite({s.expr}) THEN {s.expr} END" for s in num]
    native = ", ".join(f"histogram({f}, {_lowered(s.edges)})" for f, s in zip(fin, num))
    tree = ", ".join(f"histogram(CASE WHEN isfinite({s.expr}) THEN {_tree(s.expr, s.edges, 0, s.bins - 1)} END)"
                     for s in num)
    cols = ", ".join(f"CASE WHEN isfinite({s.expr}) THEN {_tree(s.expr, s.edges, 0, s.bins - 1)} END AS b{i}"
                     for i, s in enumerate(num))
    sets = ", ".join(f"(b{i})" for i in range(len(num)))
    return {
        "bins: native histogram(x, bounds)": f"SELECT {native} FROM {table}",
        "bins: CASE-tree index + histogram": f"SELECT {tree} FROM {table}",
        "bins: CASE-tree index + GROUPING SETS":
            f"SELECT COUNT(*) FROM (SELECT {cols} FROM {table}) GROUP BY GROUPING SETS ({sets})",
        "moments: VAR_POP": "SELECT " + ", ".join(f"AVG({s.expr}), VAR_POP({s.expr})" for s in num) + f" FROM {table}",
        "moments: centred sums": "SELECT " + ", ".join(f"SUM({s.expr} - 1.0), SUM(({s.expr} - 1.0) * ({s.expr} - 1.0))"
                                                      for s in num) + f" FROM {table}",
    }


def same_profile(a: WindowProfile, b: WindowProfile) -> list[str]:
    """Where two profiles differ (counts exactly, moments to 1e-9 relative)."""
    diffs = [] if a.rows == b.rows else [f"rows {a.rows} != {b.rows}"]
    for name, pa in a.features.items():
        pb = b.features[name]
        for key, va in vars(pa).items():
            vb = getattr(pb, key)
            if isinstance(va, float) and isinstance(vb, float):
                if not math.isclose(va, vb, rel_tol=1e-9, abs_tol=1e-9):
                    diffs.append(f"{name}.{key}: {va} != {vb}")
            elif va != vb:
                diffs.append(f"{name}.{key}: {va} != {vb}")
    return diffs


def _fetch(con: Any, sql: str, params: dict[str, Any] | None) -> list[Any]:
    return con.execute(sql, params).fetchall()


def run_variant(args: dict[str, Any]) -> dict[str, Any]:
    """Child mode: time the production query's parts and the alternative shapes; check equality."""
    from monitor import profiling
    from monitor.sql import DUCKDB, Source, profile_query
    from monitor.stores.duckdb import DuckDBStore

    saved = json.loads(Path(args["reference"]).read_text())
    specs = list(profiling.specs_from_json(saved["specs"]).values())
    ref = profiling.profile_from_json(saved["profile"])
    store = DuckDBStore(args["db"], read_only=True)
    con = store._con
    for key in ("threads", "memory_limit"):
        if args.get(key) is not None:
            con.execute(f"SET {key} = '{args[key]}'")
    table, repeats = args["table"], args.get("repeats", 3)
    out: dict[str, Any] = {}
    if "proposed" in args["variants"] or "proposed_raw" in args["variants"]:
        raw = "proposed_raw" in args["variants"]
        run_proposed(con, table, specs, ref, raw)  # warm-up, as the scan gets

        def once() -> tuple[float, WindowProfile]:
            t0 = time.perf_counter()
            window = run_proposed(con, table, specs, ref, raw)
            profile_seconds = time.perf_counter() - t0
            decide_all({s.name: s for s in specs}, ref, window)
            return profile_seconds, window

        timing = best_of(once, repeats)
        profile_seconds, window = timing.pop("result")
        timing.update(profile_seconds=profile_seconds, peak_rss_mb=peak_mb())  # before the check below
        if args.get("check", True):
            production = profiling.profile(store, Source(table=store.table(table)), specs)
            timing["differences"] = same_profile(production, window)
        out["proposed_raw" if raw else "proposed"] = timing
    if "breakdown" in args["variants"]:
        q = profile_query(DUCKDB, Source(table=store.table(table)), specs)
        aggs, tail = _split_select(q.sql)
        shapes = {"production query (all parts)": (q.sql, q.params)}
        for part, keep in _PARTS.items():
            sql = "SELECT " + ", ".join(a for a in aggs if keep(a)) + tail
            shapes[f"production part: {part}"] = (sql, {k: v for k, v in q.params.items() if f"${k}" in sql})
        shapes.update({name: (sql, {}) for name, sql in bin_variants(table, specs).items()})
        shapes["scan: SUM/MAX of each column"] = (scan_sql(table), {})
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
        exp = child("variant", {**common, "variants": ["breakdown"]})
        exp.update(child("variant", {**common, "variants": ["proposed"]}))
        exp.update(child("variant", {**common, "variants": ["proposed_raw"]}))
        result["experiments"] = exp
        head = f"{'wall s':>8} {'x scan':>7} {'cpu s':>7} {'x scan':>7}"
        print(f"\nexperiments (same rows; best of 3 by wall time)  {head}")
        for name, t in exp.items():
            if "error" in t:
                print(f"  {name:48} {t['error']}")
                continue
            extra = ""
            if "peak_rss_mb" in t:
                extra = f"  peak {t['peak_rss_mb']:.0f} MB, differences: {t.get('differences')}"
            print(f"  {name:48} {t['seconds']:8.3f} {t['seconds'] / scan['seconds']:6.1f}x {t['cpu_seconds']:7.3f} "
                  f"{t['cpu_seconds'] / scan['cpu_seconds']:6.1f}x{extra}")
    name = "profile_scale" + ("" if opts.rows == 1_000_000 else f"_{opts.rows}")
    name += ".json" if opts.memory_limit is None and opts.threads is None else "_settings.json"
    (OUT / name).write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwrote {OUT / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
