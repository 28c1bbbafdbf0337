"""Bench: what an hourly step of a 24h window reads on BigQuery, query by query, against a full run's.

    nice -n 10 .venv/bin/python bench/bigquery_hourly.py [--per-hour 100] [--scale 100000000 1000000]

On the emulator (which reports 0 bytes for every query, so the bytes are computed, as in
bench/bigquery_scan.py, from the queries the run sends, captured at the store): a day of the example
wheel-assembly logs (and their labels) is loaded, its first 23 hours are profiled ahead (the incremental
profile's partials, monitor/pipeline/profiles.py), then its last hour is loaded and the day's window is
run: that run is "one new hour of rows on a window whose other 23 hours are profiled" (what a 24h window
evaluated every hour does once windows slide). "full" is the same run on the same rows with nothing
profiled ahead. Three layouts: hour partitions (what `driftline init` creates now), day partitions (what it
created before, and `store.partitioning: day`).

Computed bytes of a query, at `--scale` predictions (and labels) a day: for the predictions table, the
columns it names times the rows of the partitions its window bounds touch (hours, or whole days of a
day-partitioned table); for the labels table (day partitions on arrival), the days since the window's
start (the labels that arrived from then to the run, at `--scale` a day: the partition of the run's day
holds only what arrived since midnight); BigQuery's 10 MB minimum per table and query; INFORMATION_SCHEMA.PARTITIONS and Driftline's own
small tables (state, runs, leases, alerts) at that minimum. Writes bench/out/bigquery_hourly.json.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bigquery_scan import MB, SIZES, _names, kind  # noqa: E402
from monitor.config import load_model_config  # noqa: E402
from monitor.demo import simulate  # noqa: E402
from monitor.pipeline.profiles import prefill  # noqa: E402
from monitor.pipeline.run import run_window  # noqa: E402
from monitor.sql.queries import Query  # noqa: E402
from monitor.stores.bigquery.store import PredictionsLayout  # noqa: E402
from tests.conftest import START, write_config  # noqa: E402
from tests.monitor.stores.emulator import Emulator, running  # noqa: E402
from tests.monitor.stores.recording import RecordingStore  # noqa: E402

HOUR = timedelta(hours=1)
LABEL_COLS = ["request_id", "label", "labelled_at"]


def what(q: Query) -> str:
    """The run's query kinds (bench/bigquery_scan.py's, and the incremental profile's own)."""
    if "INFORMATION_SCHEMA.PARTITIONS" in q.sql:
        return "partition metadata"
    if " AS b, COUNT(*) AS n FROM" in q.sql:
        return "bucket counts (window)"
    k = kind(q)
    if k == "profile":
        if "bucket_us" in q.params:
            return "profile, new hours"
        return "label profile (window)" if "__label" in q.sql else "reference profile"
    return k


def partitions(q: Query, hourly: bool) -> float:
    """Hours of predictions a query's window bounds touch (whole days on a day-partitioned table)."""
    lo, hi = q.params.get("w_start"), q.params.get("w_end")
    if lo is None or hi is None:
        return 24.0  # no window bound: every partition loaded (the day)
    if hourly:
        return math.ceil((hi - lo) / HOUR)
    first, last = lo.date(), (hi - timedelta(microseconds=1)).date()
    return 24.0 * ((last - first).days + 1)


def cost(q: Query, preds: str, labels: str, cols: list[str], scale: int, today: datetime, hourly: bool
         ) -> dict[str, int]:
    """Computed billed bytes of one query, by table kind (see the module docstring)."""
    out = {"predictions": 0, "labels": 0, "metadata and own tables": 0}
    per_hour = scale / 24
    if preds in q.sql:
        width = sum(SIZES.get(c, 8) for c in _names(q.sql.replace(labels, ""), cols))
        out["predictions"] = max(MB, int(partitions(q, hourly) * per_hour * width))
    if labels in q.sql:
        since = q.params.get("l_since")
        days = (today - since) / timedelta(days=1) if since else 1.0  # labels arrived since, at `scale` a day
        out["labels"] = max(MB, int(days * scale * sum(SIZES[c] for c in _names(q.sql, LABEL_COLS))))
    own = set(re.findall(r"`[a-z0-9-]+\.[A-Za-z0-9_]+\.([A-Za-z0-9_.]+)`", q.sql)) - {
        preds.strip("`").rsplit(".", 1)[-1], labels.strip("`").rsplit(".", 1)[-1]}
    out["metadata and own tables"] = MB * len(own)
    return out


VARIANTS = {  # config lines over the example's (tests.conftest.write_config)
    "example": {"report": "{evidently: false}"},  # labels joined, the domain classifier on the samples
    "drift-only": {"report": "{evidently: false}", "labels": "null", "drift": "{multivariate: false}"},
}


def scenario(emulator: Emulator, work: Path, variant: str, layout: str, ahead: bool, per_hour: int,
             scales: list[int]) -> dict[str, Any]:
    tag = f"{variant.replace('-', '_')}_{layout}_{'step' if ahead else 'full'}"
    folder = work / tag
    folder.mkdir()
    write_config(folder, **VARIANTS[variant],
                 store=f"{{kind: bigquery, project: {emulator.project}, dataset: {tag}, partitioning: {layout}}}")
    cfg = load_model_config(folder / "wheel-assembly.yaml")
    store = RecordingStore(emulator.client(), tag, layouts=[PredictionsLayout.from_model_config(cfg)], timeout=1800)
    store.init()
    store.insert_frame(cfg.reference_table, simulate.reference(4000))
    logs, labels = simulate.traffic(1, 24 * per_hour, START, scenario="none")
    last = START + 23 * HOUR
    early = logs["ts"] < last
    store.insert_frame(cfg.predictions.table, logs[early].reset_index(drop=True))
    if ahead:
        prefill(cfg, store, START, last)  # the 23 hours an hourly schedule has profiled already
    store.insert_frame(cfg.predictions.table, logs[~early].reset_index(drop=True))
    if cfg.labels is not None:
        store.upsert_labels(cfg.labels.table, labels, cfg.labels.join_key)  # all of them: the joins run in full
    store.sent.clear()
    t0 = time.perf_counter()
    summary = run_window(cfg, store, START + timedelta(days=1))
    seconds = time.perf_counter() - t0
    preds, labs = store.table(cfg.predictions.table), store.table(cfg.labels.table if cfg.labels else "labels")
    cols = [n for n, _, _ in PredictionsLayout.from_model_config(cfg).predictions_schema()]
    today = START + timedelta(days=1)
    out: dict[str, Any] = {"variant": variant, "layout": layout, "run": "hourly step" if ahead else "full", "rows": summary.rows,
                           "emulator_seconds": round(seconds, 2), "queries": len(store.sent)}
    for scale in scales:
        by_kind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for q in store.sent:
            for table, b in cost(q, preds, labs, cols, scale, today, layout == "hour").items():
                by_kind[what(q)][table] += b
        total = {t: sum(k[t] for k in by_kind.values()) for t in ("predictions", "labels", "metadata and own tables")}
        window_scan = scale * sum(SIZES.get(c, 8) for c in cols)  # every column of every row of the window, once
        out[f"at_{scale}_a_day"] = {
            "window_scan_gb": round(window_scan / 1e9, 3),
            "by_query_gb": {k: round(sum(v.values()) / 1e9, 4) for k, v in sorted(by_kind.items())},
            "total_gb": {t: round(b / 1e9, 4) for t, b in total.items()} | {"all": round(sum(total.values()) / 1e9, 4)},
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-hour", type=int, default=100, help="rows loaded per hour (the bytes scale)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--scale", type=int, nargs="+", default=[100_000_000, 1_000_000],
                        help="predictions a day for the computed bytes")
    args = parser.parse_args()
    results = []
    with running("driftline-bq-hourly-") as (emulator, work):
        for variant in args.variants:
            for layout in ("hour", "day"):
                for ahead in (True, False):
                    results.append(scenario(emulator, work, variant, layout, ahead, args.per_hour, args.scale))
                    print(json.dumps(results[-1]), flush=True)
    for variant, scale, layout in ((v, s, lay) for v in args.variants for s in args.scale for lay in ("hour", "day")):
        key = f"at_{scale}_a_day"
        step, full = (next(r for r in results if (r["variant"], r["layout"], r["run"]) == (variant, layout, run))
                      for run in ("hourly step", "full"))
        s, f, w = step[key]["total_gb"], full[key]["total_gb"], step[key]["window_scan_gb"]
        profile = sum(v for k, v in step[key]["by_query_gb"].items() if k.startswith(("profile,", "partition", "bucket")))
        print(f"{variant}, {scale:,} a day, {layout} partitions: step {s['all']} GB (its profile and change signal "
              f"{profile:.4f}), full run {f['all']} GB, window scan {w} GB; step/full {s['all'] / f['all']:.3f}, "
              f"step/window scan {s['all'] / w:.3f}, profile+signal/window scan {profile / w:.4f}")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bigquery_hourly.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
