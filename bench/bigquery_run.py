"""Bench: one Driftline run over 1,000,000 logged rows on the local BigQuery emulator, and logger latency.

    .venv/bin/python bench/bigquery_run.py [--rows 1000000] [--latency-requests 1000]

Prints (and writes to bench/out/bigquery_run.json) the load time, the run's wall time, the peak
memory of this process during the run (tracemalloc and max RSS) and of the emulator process, and
the /predict latency of the example serving app with the emulator up and with it stopped.
The emulator is DuckDB behind the BigQuery REST API: its times say nothing about BigQuery's.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.config import load_model_config
from monitor.demo import simulate
from monitor.pipeline.run import run_window
from monitor.stores.bigquery.store import BigQueryStore, PredictionsLayout
from tests.conftest import START, write_config
from tests.monitor.stores.emulator import Emulator

CHUNK = 100_000


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load(store: BigQueryStore, cfg_table: str, rows: int) -> float:
    """Simulated day-1 traffic, `rows` rows in chunks, into the predictions table; seconds taken."""
    t0 = time.perf_counter()
    for k in range(0, rows, CHUNK):
        logs, _ = simulate.traffic(1, min(CHUNK, rows - k), START, scenario="none", seed=100 + k // CHUNK)
        logs["request_id"] = [f"c{k // CHUNK:03d}-{i:06d}" for i in range(len(logs))]
        store.insert_frame(cfg_table, logs)
    return time.perf_counter() - t0


def latency(emulator: Emulator, n: int) -> dict[str, float]:
    """p50/p99 ms of /predict with the emulator up, then stopped (sequential requests)."""
    import httpx
    import numpy as np

    from monitor.client.predlog import PredictionLogger
    from tests.monitor.client.test_predlog import LAYOUT, ServedApp

    BigQueryStore(emulator.client(), "served", layouts=[LAYOUT]).init()
    table = f"{emulator.project}.served.{LAYOUT.table}"

    rng = np.random.default_rng(0)
    body = {"sequence": rng.normal(size=(10, 8)).round(4).tolist()}
    logger = PredictionLogger.for_bigquery(emulator.client(), table, queue_size=2000, batch_size=200,
                                           flush_interval=0.1, backoff=0.05, max_backoff=0.5, timeout=10)
    out: dict[str, float] = {}
    with ServedApp(logger) as app, httpx.Client(base_url=f"http://127.0.0.1:{app.port}") as client:
        for phase in ("up", "down"):
            if phase == "down":
                emulator.stop()
            times = []
            for i in range(n):
                t = time.perf_counter()
                assert client.post("/predict", json=body, headers={"X-Request-ID": f"{phase}-{i}"}).status_code == 200
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            out[f"{phase}_p50_ms"] = round(statistics.median(times), 3)
            out[f"{phase}_p99_ms"] = round(times[int(0.99 * (len(times) - 1))], 3)
        emulator.start()
    stats = logger.stats()
    out.update(dropped=stats.dropped, sent=stats.sent, failed=stats.failed)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--latency-requests", type=int, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="driftline-bq-bench-"))
    write_config(work, report="{evidently: false}")
    cfg = load_model_config(work / "wheel-assembly.yaml")
    emulator = Emulator(work / "emulator")
    emulator.start()
    try:
        store = BigQueryStore(emulator.client(), "bench", layouts=[PredictionsLayout.from_model_config(cfg)],
                              timeout=1800)
        store.init()
        store.insert_frame(cfg.reference_table, simulate.reference(10_000))
        load_s = load(store, cfg.predictions.table, args.rows)
        tracemalloc.start()
        t0 = time.perf_counter()
        summary = run_window(cfg, store, START + timedelta(days=1))
        run_s = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert emulator._proc is not None
        result = {
            "rows": summary.rows, "load_seconds": round(load_s, 1), "run_seconds": round(run_s, 2),
            "python_peak_mb_during_run": round(peak / 2**20, 1),
            "driftline_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "emulator_max_rss_mb": round(_vm_hwm_mb(emulator._proc.pid), 1),
            "bytes_processed_reported": summary.extra.get("bytes_processed"),
            "drifted": [f.name for f in summary.features if f.drifted],
        }
        if args.latency_requests:
            result["predict_latency"] = latency(emulator, args.latency_requests)
    finally:
        emulator.stop()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bigquery_run.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
