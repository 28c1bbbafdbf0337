"""Bench: what one run reads on BigQuery, from the queries it sends to the emulator (which reports 0 bytes).

    .venv/bin/python bench/bigquery_scan.py [--per-day 300] [--kept 30 365] [--scale 1000000]

For each labels retention (days of predictions and labels kept), the logs are loaded into their own
dataset, 14 daily windows are run before their labels arrive, the labels arrive, and the 15th run is
recorded: its queries (SQL and parameters, captured at the store), how many read the predictions
table, and an estimate of the bytes BigQuery would bill, at `--scale` predictions (and labels) a day:
for each table a query names, the columns it names times the rows of the partitions it can touch
(predictions: the window's days; labels: every day kept, or only the days since the window began
when the join filters on the labels' arrival), at BigQuery's logical sizes, with its 10 MB minimum
per table and query. "before" is the label join without that filter (labels.timestamp: null).
Writes bench/out/bigquery_scan.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.config import load_model_config  # noqa: E402
from monitor.demo import simulate  # noqa: E402
from monitor.pipeline.run import run_window  # noqa: E402
from monitor.sql.queries import Query  # noqa: E402
from monitor.stores.bigquery.store import PredictionsLayout  # noqa: E402
from tests.conftest import write_config  # noqa: E402
from tests.monitor.stores.emulator import Emulator, running  # noqa: E402
from tests.monitor.stores.recording import RecordingStore  # noqa: E402

MB = 10 * 2**20  # BigQuery's minimum billed per table referenced by a query
# Logical bytes per value (BigQuery: numbers and timestamps 8; a STRING 2 + its UTF-8 length).
SIZES = {"request_id": 22, "model_name": 16, "model_version": 4, "tire_type": 14, "label": 8, "labelled_at": 8}
AWAITING = 14  # daily windows run before their labels arrive (the refresh looks back 14)


def _names(sql: str, columns: list[str]) -> list[str]:
    return [c for c in columns if re.search(rf"\b{re.escape(c)}\b", sql)]


def estimate(q: Query, preds: str, labels: str, pred_cols: list[str], kept: int, scale: int,
             today: datetime) -> dict[str, Any]:
    """Estimated billed bytes of one query at `scale` rows a day (see the module docstring)."""
    out = {"predictions": 0, "labels": 0, "other": 0}
    if preds in q.sql:
        days = max(1, (q.params["w_end"] - q.params["w_start"]).days) if "w_start" in q.params else kept
        width = sum(SIZES.get(c, 8) for c in _names(q.sql.replace(labels, ""), pred_cols))
        out["predictions"] = max(MB, days * scale * width)
    if labels in q.sql:
        since = q.params.get("l_since")
        days = min(kept, (today - since).days + 1) if since else kept
        width = sum(SIZES[c] for c in _names(q.sql.split(labels, 1)[0][-200:] + q.sql, ["request_id", "label",
                                                                                    "labelled_at"]))
        out["labels"] = max(MB, days * scale * width)
    names = set(re.findall(r"`[a-z0-9-]+\.[A-Za-z0-9_]+\.([A-Za-z0-9_]+)`", q.sql)) - {
        preds.rsplit(".", 1)[-1].strip("`"), labels.rsplit(".", 1)[-1].strip("`")}
    out["other"] = MB * len(names)
    return out


def kind(q: Query) -> str:
    """What a query of the run is, from its parameters (the builders in monitor/sql name them)."""
    p = q.params
    if "c0_lo" in p or "c0_t0" in p:
        return "profile"
    for key, name in (("known", "unseen categories"), ("seed", "sample"), ("s0", "late labels: count"),
                      ("thr", "performance counts"), ("limit", "versions")):
        if key in p:
            return name
    return q.sql.split()[0].lower()


def scenario(emulator: Emulator, work: Path, kept: int, per_day: int, scale: int, variant: str) -> dict[str, Any]:
    tag = f"k{kept}_{variant}"
    logs_ds, state_ds = f"logs_{tag}", f"state_{tag}"
    client = emulator.client()
    client.create_dataset(f"{emulator.project}.{logs_ds}", exists_ok=True)
    folder = work / tag
    folder.mkdir()
    labels_line = "{table: " + logs_ds + ".labels" + (", timestamp: null}" if variant == "before" else "}")
    write_config(folder, report="{evidently: false}", predictions="{table: " + logs_ds + ".predictions}",
                 labels=labels_line, store=f"{{kind: bigquery, project: {emulator.project}, dataset: {state_ds}}}")
    cfg = load_model_config(folder / "wheel-assembly.yaml")
    start = datetime(2026, 1, 1)
    logs, labels = simulate.traffic(kept, per_day, start, scenario="none")
    store = RecordingStore(client, state_ds, layouts=[PredictionsLayout.from_model_config(cfg)], timeout=1800)
    store.init()
    store.insert_frame(cfg.reference_table, simulate.reference(4000))
    store.insert_frame(cfg.predictions.table, logs)
    first_late = start + timedelta(days=kept - 1 - AWAITING)
    assert cfg.labels is not None
    store.upsert_labels(cfg.labels.table, labels[logs["ts"] < first_late].reset_index(drop=True), "request_id")
    for day in range(kept - 1 - AWAITING, kept - 1):
        run_window(cfg, store, start + timedelta(days=day + 1))
    store.upsert_labels(cfg.labels.table, labels[logs["ts"] >= first_late].reset_index(drop=True), "request_id")
    store.sent.clear()
    today = start + timedelta(days=kept)
    summary = run_window(cfg, store, today)
    preds, labs = store.table(cfg.predictions.table), store.table(cfg.labels.table)
    pred_cols = [n for n, _, _ in PredictionsLayout.from_model_config(cfg).predictions_schema()]
    per_query = [estimate(q, preds, labs, pred_cols, kept, scale, today) for q in store.sent]
    total = {k: sum(e[k] for e in per_query) for k in ("predictions", "labels", "other")}
    return {
        "labels_kept_days": kept, "variant": variant, "queries": len(store.sent),
        "queries_reading_predictions": sum(preds in q.sql for q in store.sent),
        "queries_reading_labels": sum(labs in q.sql for q in store.sent),
        "refreshed_windows": AWAITING,
        # Each read of the predictions table: what it is, and whether it reads this window's partitions.
        "predictions_reads": [f"{kind(q)} ({'this window' if q.params.get('w_start') == today - timedelta(days=1) else 'past windows'})"
                              for q in store.sent if preds in q.sql],
        "estimated_gib": {k: round(v / 2**30, 2) for k, v in total.items()} | {
            "total": round(sum(total.values()) / 2**30, 2)},
        "performance_status": (summary.performance or {}).get("status"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-day", type=int, default=300, help="rows loaded per day (the estimate scales)")
    parser.add_argument("--kept", type=int, nargs="+", default=[30, 365])
    parser.add_argument("--scale", type=int, default=1_000_000, help="predictions a day for the estimate")
    args = parser.parse_args()
    results = []
    with running("driftline-bq-scan-") as (emulator, work):
        for kept in args.kept:
            for variant in ("before", "after"):
                results.append(scenario(emulator, work, kept, args.per_day, args.scale, variant))
                print(json.dumps(results[-1]), flush=True)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bigquery_scan.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
