"""Shared machinery of the scale benchmarks: seeded data in DuckDB, and measurement in fresh processes.

The data is generated inside DuckDB by SQL over range(), with every random draw a hash of
(row, column, seed), so it is identical whatever the thread count and never passes through
Python. Each measurement runs in its own child process (``python bench/_common.py MODE
ARGS_JSON``), so its peak RSS (``ru_maxrss``) is that measurement's alone, imports included.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
REF_ROWS = 50_000
NUMERIC = [f"x{i}" for i in range(8)]
CATEGORICAL = ["cat5", "cat50"]
BINS, TOP_K = 20, 20  # the config defaults (monitor/config.py)

# A uniform in (0, 1) from a hash of (row, column): deterministic under any parallelism.
_U = "((hash({i}::BIGINT, {k}::BIGINT, {seed}::BIGINT) >> 11)::DOUBLE + 0.5) / 9007199254740992.0"
# Box-Muller normal from two such uniforms.
_Z = "(sqrt(-2 * ln({u1})) * cos(2 * pi() * {u2}))"


def _u(k: int, seed: int) -> str:
    return _U.format(i="i", k=k, seed=seed)


def _z(k: int, seed: int) -> str:
    return _Z.format(u1=_u(k, seed), u2=_u(k + 100, seed))


def feature_sql(seed: int, shift: float) -> list[str]:
    """SELECT items for the 8 numerical and 2 categorical features (shapes as in bench/detection.py)."""
    return [
        f"{_z(0, seed)} + {shift} AS x0",  # normal, shifted in the window
        f"5 + 2 * {_z(1, seed)} AS x1",  # normal
        f"exp(0.75 * {_z(2, seed)}) AS x2",  # log-normal
        f"10 * {_u(3, seed)} AS x3",  # uniform
        f"{_z(4, seed)} + CASE WHEN {_u(5, seed)} < 0.5 THEN -2 ELSE 2 END AS x4",  # bimodal
        f"{_z(6, seed)} * CASE WHEN {_u(7, seed)} < 0.1 THEN 4 ELSE 1 END AS x5",  # heavy-tailed mixture
        f"floor(1000 * {_u(8, seed)}) AS x6",  # integer step index, ties on the edges
        f"-ln({_u(9, seed)}) AS x7",  # exponential
        f"'c' || floor(5 * pow({_u(10, seed)}, 2))::INT AS cat5",  # 5 skewed levels
        f"'v' || floor(50 * pow({_u(11, seed)}, 3))::INT AS cat50",  # 50 Zipf-like levels
    ]


def generate(db: Path, table: str, rows: int, *, seed: int, shift: float = 0.0) -> float:
    """Create (or replace) a table of `rows` seeded rows; returns the seconds it took."""
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {', '.join(feature_sql(seed, shift))} "
                f"FROM range({rows}) AS t(i)")
    con.execute("CHECKPOINT")
    con.close()
    return time.perf_counter() - t0


def build_reference(db: Path, table: str, out: Path) -> Path:
    """Fix specs from the reference in SQL and profile it once; saved as JSON for the children."""
    from monitor.sql import profiler as profiling
    from monitor.sql.queries import Source
    from monitor.stores.duckdb import DuckDBStore

    store = DuckDBStore(db)
    src = Source(table=store.table(table))
    cols = [(n, "numerical", n) for n in NUMERIC] + [(c, "categorical", c) for c in CATEGORICAL]
    specs = profiling.build_specs(store, src, cols, BINS, TOP_K)  # type: ignore[arg-type]
    ref = profiling.profile(store, src, list(specs.values()))
    store.close()
    out.write_text(json.dumps({"specs": profiling.specs_to_json(specs), "profile": profiling.profile_to_json(ref)}))
    return out


def machine() -> dict[str, Any]:
    """The machine and versions the numbers were measured on."""
    import duckdb

    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    info = {"nproc": os.cpu_count(), "cpu": cpu, "memory_gb": round(mem_kb / 1024**2, 1),
            "python": platform.python_version(), "duckdb": duckdb.__version__, "platform": platform.platform()}
    from importlib.metadata import PackageNotFoundError, version

    for package in ("evidently", "pandas", "numpy", "scipy"):
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            info[package] = None
    return info


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def child(mode: str, args: dict[str, Any], timeout: float = 900, rss_limit_mb: float | None = None) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its JSON result, or {"error": ...}.

    The child is killed (by its own pid) when it runs past `timeout` seconds or its resident
    memory passes `rss_limit_mb` (sampled twice a second).
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), mode, json.dumps(args)]
    # Files, not pipes: a chatty child (Evidently's warnings) must not block on a full pipe.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=ROOT)
        t0, error = time.monotonic(), None
        while proc.poll() is None:
            if time.monotonic() - t0 > timeout:
                error = f"timeout after {timeout:.0f} s"
            elif rss_limit_mb is not None and _rss_mb(proc.pid) > rss_limit_mb:
                error = f"memory above {rss_limit_mb:.0f} MB after {time.monotonic() - t0:.0f} s"
            if error:
                proc.kill()
                proc.wait()
                return {"error": error}
            time.sleep(0.5)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        tail = (stderr or "").strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    return json.loads(stdout.strip().splitlines()[-1])


# ---- child side: each function runs alone in a fresh process -------------------------------


def peak_mb() -> float:
    """This process's peak resident set (VmHWM), in MiB.

    Not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a child would inherit its
    parent's peak (the generator's); VmHWM belongs to the new address space alone.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process, DuckDB's included
    return usage.ru_utime + usage.ru_stime


def _settings(con: Any, args: dict[str, Any]) -> None:
    # Experiments only: the store has no setting for these yet (see docs/scale.md).
    for key in ("threads", "memory_limit"):
        if args.get(key) is not None:
            con.execute(f"SET {key} = '{args[key]}'")


def best_of(fn: Callable[[], Any], repeats: int) -> dict[str, Any]:
    """Wall and CPU seconds of the fastest of `repeats` calls (the machine is shared: see docs)."""
    walls, cpus, results = [], [], []
    for _ in range(repeats):
        c0, t0 = _cpu(), time.perf_counter()
        results.append(fn())
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu() - c0)
    j = min(range(repeats), key=walls.__getitem__)
    return {"seconds": walls[j], "cpu_seconds": cpus[j], "times": walls, "result": results[j]}


def scan_sql(table: str) -> str:
    """The baseline: every profiled column read once, with the cheapest aggregate that must read it."""
    aggs = [f"SUM({c})" for c in NUMERIC] + [f"MAX({c})" for c in CATEGORICAL]
    return f"SELECT COUNT(*), {', '.join(aggs)} FROM {table}"


def run_scan(args: dict[str, Any]) -> dict[str, Any]:
    """Time DuckDB reading the same columns once (warm-up, then best of `repeats`)."""
    import duckdb

    con = duckdb.connect(args["db"], read_only=True)
    _settings(con, args)
    sql = scan_sql(args["table"])
    con.execute(sql).fetchall()  # warm the OS page cache and DuckDB's, as the profile runs get
    out = best_of(lambda: con.execute(sql).fetchall(), args.get("repeats", 3))
    del out["result"]
    return {**out, "peak_rss_mb": peak_mb()}


def decide_all(specs: dict[str, Any], ref: Any, window: Any) -> list[Any]:
    from monitor.drift.decision import DecisionInput, decide

    items = [DecisionInput(name=n, kind=s.kind, spec=s, reference=ref.features[n], window=window.features[n])
             for n, s in specs.items()]
    return decide(items, seed=7)


def run_profile(args: dict[str, Any]) -> dict[str, Any]:
    """Time monitor.sql.profiler.profile + monitor.drift.decision.decide on a window; report peak RSS."""
    from monitor.sql import profiler as profiling
    from monitor.sql.queries import Source
    from monitor.stores.duckdb import DuckDBStore

    saved = json.loads(Path(args["reference"]).read_text())
    specs = profiling.specs_from_json(saved["specs"])
    ref = profiling.profile_from_json(saved["profile"])
    store = DuckDBStore(args["db"], read_only=True)
    _settings(store._con, args)
    src = Source(table=store.table(args["table"]))
    import_mb = peak_mb()

    def once() -> tuple[float, list[Any]]:
        t0 = time.perf_counter()
        window = profiling.profile(store, src, list(specs.values()))
        t1 = time.perf_counter()
        return t1 - t0, decide_all(specs, ref, window)

    out = best_of(once, args.get("repeats", 3))
    profile_seconds, decisions = out.pop("result")
    return {**out, "profile_seconds": profile_seconds, "decide_seconds": out["seconds"] - profile_seconds,
            "first_seconds": out["times"][0], "peak_rss_mb": peak_mb(), "after_import_rss_mb": import_mb,
            "drifted": [d.name for d in decisions if d.drifted]}


def run_evidently(args: dict[str, Any]) -> dict[str, Any]:
    """Time Evidently 0.7's DataDriftPreset on the same rows held as pandas DataFrames."""
    import warnings

    import duckdb
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    warnings.filterwarnings("ignore")
    con = duckdb.connect(args["db"], read_only=True)
    t0 = time.perf_counter()
    current = con.execute(f"SELECT * FROM {args['table']}").df()
    reference = con.execute(f"SELECT * FROM {args['reference_table']}").df()
    load = time.perf_counter() - t0
    con.close()
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    c0, t0 = _cpu(), time.perf_counter()
    cur = Dataset.from_pandas(current, data_definition=definition)
    ref = Dataset.from_pandas(reference, data_definition=definition)
    snapshot = Report([DataDriftPreset()]).run(cur, ref)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    drifted = _evidently_drifted(snapshot.dict())
    return {"seconds": seconds, "cpu_seconds": cpu, "load_seconds": load, "peak_rss_mb": peak_mb(),
            "drifted": drifted}


def _evidently_drifted(result: dict[str, Any]) -> list[str]:
    """Column names Evidently's per-column drift metrics flagged (best effort, for the sanity column)."""
    out = []
    for metric in result.get("metrics", []):
        config = metric.get("config", {})
        value = metric.get("value")
        threshold = config.get("threshold")
        column = config.get("column")
        if column and isinstance(value, (int, float)) and threshold is not None:
            method = str(config.get("method", "")).lower()
            p_value = "p_value" in method or "test" in method
            if (value < threshold) if p_value else (value >= threshold):
                out.append(column)
    return out


MODES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "scan": run_scan, "profile": run_profile, "evidently": run_evidently,
}


def _register_experiments() -> None:
    # The query-shape experiments live beside the benchmark that reports them.
    from profile_scale import run_variant  # type: ignore[import-not-found]

    MODES["variant"] = run_variant


if __name__ == "__main__":
    mode, raw = sys.argv[1], sys.argv[2]
    if mode == "variant":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        _register_experiments()
    if mode not in MODES:
        raise SystemExit(f"unknown mode {mode!r}; valid: {sorted(MODES)}")
    print(json.dumps(MODES[mode](json.loads(raw))))
