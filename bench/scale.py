"""Scale benchmark of issue 5: Driftline on DuckDB beside Evidently's DataDriftPreset, 10k to 10M rows.

    .venv/bin/python bench/scale.py            # 10,000 / 100,000 / 1,000,000 / 10,000,000 rows (~30 min, 2 cores)
    .venv/bin/python bench/scale.py --quick    # 10,000 / 100,000 rows, a smoke run (~2 min)

For every size, each in a fresh process on the same seeded rows (bench/_common.py): DuckDB
scanning the profiled columns once; Driftline's monitor.sql.profiler.profile + decide (the
production query); and Evidently 0.7's Report([DataDriftPreset()]) on pandas
DataFrames of the same rows, killed after 10 minutes or ~16 GB, and skipped at larger sizes
once it has failed. Targets (issue 5): >= 20x faster than Evidently at 1,000,000 rows; peak
memory < 400 MB at every size; time <= 3x the scan. Results: bench/out/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import OUT, child, machine
from profile_scale import prepare

SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
QUICK = (10_000, 100_000)
EVIDENTLY_TIMEOUT, EVIDENTLY_MAX_MB = 600, 16_000
SPEEDUP_AT_1M, MEMORY_MB, TIMES_SCAN = 20, 400, 3


def measure(db: Path, reference: str, rows: int, *, evidently: str | None, repeats: int,
            settings: dict[str, Any]) -> dict[str, Any]:
    """Every measurement of one window size."""
    common = {"db": str(db), "table": f"w_{rows}", "reference": reference, "repeats": repeats, **settings}
    out: dict[str, Any] = {"rows": rows, "load_average": os.getloadavg()}
    out["scan"] = child("scan", common)
    out["driftline"] = child("profile", common)
    if evidently is None:
        out["evidently"] = child("evidently", {**common, "reference_table": "reference"},
                                 timeout=EVIDENTLY_TIMEOUT, rss_limit_mb=EVIDENTLY_MAX_MB)
    else:
        out["evidently"] = {"error": f"skipped: {evidently}"}
    return out


def _cell(m: dict[str, Any], scan: dict[str, Any] | None = None) -> str:
    if "error" in m:
        return f"{m['error'][:34]:>34}"
    ratio = f" {m['seconds'] / scan['seconds']:5.1f}x" if scan and "seconds" in scan else ""
    return f"{m['seconds']:9.3f}s{ratio} {m['peak_rss_mb']:6.0f}MB"


def verdicts(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The issue's three scale targets."""
    out: dict[str, Any] = {}
    for path in ("driftline",):
        ok = [r for r in results if "seconds" in r[path] and "seconds" in r["scan"]]
        at_1m = next((r for r in ok if r["rows"] == 1_000_000), None)
        speedup = None
        if at_1m is not None and "seconds" in at_1m["evidently"]:
            speedup = at_1m["evidently"]["seconds"] / at_1m[path]["seconds"]
        peak = max((r[path]["peak_rss_mb"] for r in ok), default=None)
        ratios = {r["rows"]: r[path]["seconds"] / r["scan"]["seconds"] for r in ok}
        cpu_ratios = {r["rows"]: r[path]["cpu_seconds"] / r["scan"]["cpu_seconds"] for r in ok}
        out[path] = {
            "speedup_vs_evidently_at_1m": speedup, "speedup_ok": speedup is not None and speedup >= SPEEDUP_AT_1M,
            "max_peak_rss_mb": peak, "memory_ok": peak is not None and peak < MEMORY_MB,
            "times_scan": ratios, "cpu_times_scan": cpu_ratios,
            "time_ok": bool(ratios) and max(ratios.values()) <= TIMES_SCAN,
        }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 rows only")
    parser.add_argument("--sizes", type=int, nargs="*", help="override the window sizes")
    parser.add_argument("--no-evidently", action="store_true")
    parser.add_argument("--fresh", action="store_true", help="regenerate the data")
    parser.add_argument("--memory-limit", help="experiment: DuckDB memory_limit for Driftline and the scan, e.g. 150MB")
    parser.add_argument("--threads", type=int, help="experiment: DuckDB threads")
    opts = parser.parse_args(argv)
    sizes = tuple(opts.sizes or (QUICK if opts.quick else SIZES))
    OUT.mkdir(parents=True, exist_ok=True)
    db = OUT / "scale.duckdb"
    prep = prepare(db, sizes, fresh=opts.fresh)
    results: list[dict[str, Any]] = []
    skip_evidently = "--no-evidently" if opts.no_evidently else None
    settings = {"memory_limit": opts.memory_limit, "threads": opts.threads}
    print(f"{'rows':>11} | {'DuckDB scan':>20} | {'Driftline (production)':>34} | "
          f"{'Evidently DataDriftPreset':>34} | speedup")
    for rows in sizes:
        r = measure(db, prep["reference"], rows, evidently=skip_evidently, repeats=1 if rows >= 10_000_000 else 3,
                    settings=settings)
        results.append(r)
        if skip_evidently is None and "error" in r["evidently"]:
            skip_evidently = f"failed at {rows:,} rows"
        speed = ""
        if "seconds" in r["evidently"] and "seconds" in r["driftline"]:
            speed = f"{r['evidently']['seconds'] / r['driftline']['seconds']:.1f}x"
        scan = r["scan"]
        print(f"{rows:>11,} | {_cell(scan):>20} | {_cell(r['driftline'], scan)} | "
              f"{_cell(r['evidently'])} | {speed}", flush=True)
    summary = {"sizes": list(sizes), "machine": machine(), "duckdb_settings": settings, "results": results,
               "targets": verdicts(results), **prep}
    for path, v in summary["targets"].items():
        print(f"{path}: speedup at 1M {v['speedup_vs_evidently_at_1m']} (>= {SPEEDUP_AT_1M}: {v['speedup_ok']}); "
              f"max peak {v['max_peak_rss_mb']} MB (< {MEMORY_MB}: {v['memory_ok']}); "
              f"x scan {({k: round(x, 1) for k, x in v['times_scan'].items()})} (<= {TIMES_SCAN}: {v['time_ok']}); "
              f"cpu x scan {({k: round(x, 1) for k, x in v['cpu_times_scan'].items()})}")
    name = "scale_quick.json" if opts.quick else "scale.json"
    if opts.memory_limit or opts.threads:
        name = name.replace(".json", "_settings.json")
    (OUT / name).write_text(json.dumps(summary, indent=2, default=str))
    print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
