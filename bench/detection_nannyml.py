"""NannyML's univariate drift defaults on the detection benchmark's windows (issue 17).

Runs in NannyML's own virtual environment (NannyML is not a Driftline dependency):

    python3.11 -m venv /tmp/17-nannyml-venv
    /tmp/17-nannyml-venv/bin/pip install nannyml==0.13.1 threadpoolctl
    nice -n 10 /tmp/17-nannyml-venv/bin/python bench/detection_nannyml.py --replicates 500 --power-replicates 100 \
        --out /tmp/17-nannyml-rows.json
    .venv/bin/python bench/detection.py ... --nannyml-rows /tmp/17-nannyml-rows.json   # merged into the table

It draws the same references and windows as bench/detection.py (bench/detection_data.py, same seeds).
"NannyML's defaults": ``UnivariateDriftCalculator`` with its default methods (Jensen-Shannon for
continuous and categorical columns) and default thresholds (the reference chunks' mean + 3 std). The
reference is chunked at the window's size where it holds at least 4 such chunks (500, 2,000, 5,000
rows), else by the default chunker (10 chunks of 2,000 rows, for 50,000-row windows); the window is
then judged as one chunk (the chunker set to one chunk of the window's size after fitting, so each run
has one verdict per column, as the other methods). A column counts when NannyML raises its alert.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # no telemetry from a benchmark

from detection_data import CATEGORICAL, FEATURES, REF_ROWS, SIZES, cells, reference, reps_for, window  # noqa: E402


def _flagged(calc, win) -> set[str]:
    from nannyml.chunk import SizeBasedChunker

    calc.chunker = SizeBasedChunker(chunk_size=len(win), incomplete="append")
    res = calc.calculate(win).filter(period="analysis").to_df()
    out = set()
    for name, _ in FEATURES:
        col = (name, "jensen_shannon", "alert")
        if col in res.columns and bool(res[col].fillna(False).astype(bool).any()):
            out.add(name)
    return out


def replicate(args: tuple[int, dict]) -> list[tuple[str, int, str, bool, bool]]:
    r, cfg = args
    import logging

    import nannyml as nml
    from threadpoolctl import threadpool_limits

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    out = []
    with threadpool_limits(1):
        ref = reference(cfg["seed"], r)
        calcs = {}
        for ci, (sc, n) in enumerate(cells(tuple(cfg["sizes"]))):
            if r >= min(reps_for(sc, cfg), cfg["nannyml_reps_cap"]) or sc.change == "correlation" or (
                    cfg["only_new"] and not (sc.new or sc.change == "none")):
                continue
            if n not in calcs:
                # reference chunks of the window's size where the reference holds >= 4 of them, else the
                # default chunker (10 chunks): the thresholds are the reference chunks' mean + 3 std
                chunking = {"chunk_size": n} if n <= REF_ROWS // 4 else {}
                calcs[n] = nml.UnivariateDriftCalculator(column_names=[f for f, _ in FEATURES],
                                                         treat_as_categorical=list(CATEGORICAL), **chunking)
                calcs[n].fit(ref)
            got = _flagged(calcs[n], window(cfg["seed"], r, ci, n, sc))
            out.append(("nannyml", n, sc.name, bool(got), sc.target in got))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=500)
    ap.add_argument("--power-replicates", type=int, default=100)
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--only-new", action="store_true", help="only no-change and issue 17's new kinds of change")
    ap.add_argument("--start", type=int, default=0, help="first replicate (to add replicates to an earlier run)")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    cfg = {"seed": a.seed, "sizes": a.sizes, "null_reps": a.replicates, "power_reps": a.power_replicates,
           "nannyml_reps_cap": max(a.replicates, a.power_replicates), "only_new": a.only_new}
    start, rows = time.perf_counter(), []
    total = max(a.replicates, a.power_replicates)
    with mp.get_context("spawn").Pool(a.workers) as pool:
        for i, part in enumerate(pool.imap_unordered(replicate, [(r, cfg) for r in range(a.start, total)])):
            rows.extend(part)
            a.out.write_text(json.dumps({"config": cfg, "rows": rows, "done": i + 1,
                                         "seconds": time.perf_counter() - start}))
            print(f"  {i + 1}/{total - a.start} replicates, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
