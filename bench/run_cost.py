"""What a whole run costs (issue 19): `driftline run` through the CLI, phase by phase, beside a bare scan.

    nice -n 10 .venv/bin/python bench/run_cost.py            # 10k..10M rows x 13 features, 1M x 50 and 200,
                                                             # a 90-window backfill, a 24h vs a 1h window
    .venv/bin/python bench/run_cost.py --quick               # a cold 10k-row run, 2-window backfill (~15 s)

Each measured command runs in its own fresh interpreter (`python bench/run_cost.py child MODE ARGS`):
`driftline run --json` through `monitor.cli.main` at the store's defaults, so its wall time includes
the interpreter's start and every import, its CPU is the process's (DuckDB's threads included) and its
peak RSS is the process's VmHWM. The run's own phases (wall and CPU) come from the summary's
extra["phases"] (monitor.pipeline.failures.phase). Beside it, in other fresh processes: DuckDB scanning
the run's columns of the window once (best of 3), Evidently's report as the run defers it (built from
the run's saved samples: monitor.pipeline.report_jobs), and, up to 1M rows, Evidently's DataDriftPreset
on the whole window. Data: seeded SQL over range() (bench/_common.py), a 50,000-row labelled reference;
the first window (10,000 rows) builds the reference's specs, the second (the size measured) runs on them.
Results: bench/out/run_cost.json (quick: run_cost_quick.json).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import _U, OUT, ROOT, machine, peak_mb  # noqa: E402

DAY0 = datetime(2026, 11, 1)
REF_ROWS = 50_000
TIMEOUT = 1800


def _u(k: int) -> str:
    return _U.format(i="i", k=k, seed="{seed}")


def _z(k: int) -> str:
    return f"(sqrt(-2 * ln({_u(k)})) * cos(2 * pi() * {_u(k + 50_000)}))"


def _columns(features: int) -> list[str]:
    cols = [f"{_z(j)} + {j % 7} AS f{j}" for j in range(features)]
    cols.append(f"'c' || floor(5 * pow({_u(9_000)}, 2))::INT AS cat")
    cols.append(f"1 / (1 + exp(-(f0 + 0.5 * f1))) AS probability")
    return cols


def _rows_sql(features: int, rows: int, seed: int, start: datetime, hours: float, offset: int) -> str:
    cols = ", ".join(c.replace("{seed}", str(seed)) for c in _columns(features))
    step = hours * 3600 / rows
    label = _u(9_500).replace("{seed}", str(seed))
    return (f"SELECT *, CAST(probability > 0.5 AS INT) AS predicted_class, "
            f"CAST(u < probability AS INT) AS label FROM (SELECT 'r' || (i + {offset}) AS request_id, "
            f"TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' + to_microseconds(CAST(i * {step * 1e6} AS BIGINT)) AS ts, "
            f"'m' AS model_name, 'v1' AS model_version, {cols}, {label} AS u FROM range({rows}) AS t(i))")


MEMORY_LIMIT: str | None = None  # --memory-limit: the store's DuckDB limit (default: the store's own)


def prepare(folder: Path, features: int, windows: list[int], *, window: str = "24h", day0: datetime = DAY0) -> Path:
    """A config folder and its DuckDB file: reference, and one day of predictions + labels per window size."""
    import duckdb

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    con = duckdb.connect(str(folder / "run_cost.duckdb"))
    con.execute(f"CREATE TABLE reference AS SELECT * EXCLUDE (request_id, ts, model_name, model_version, u) "
                f"FROM ({_rows_sql(features, REF_ROWS, 1, DAY0, 24, 0)})")
    offset = 0
    for day, rows in enumerate(windows):
        sql = _rows_sql(features, rows, 100 + day, day0 + timedelta(days=day), 24, offset)
        verb = "CREATE TABLE predictions AS" if day == 0 else "INSERT INTO predictions"
        con.execute(f"{verb} SELECT * EXCLUDE (label, u) FROM ({sql})")
        verb = "CREATE TABLE labels AS" if day == 0 else "INSERT INTO labels"
        con.execute(f"{verb} SELECT request_id, label FROM ({sql})")
        offset += rows
    con.execute("CHECKPOINT")
    con.close()
    feats = "\n".join(f"  - {{name: f{j}, kind: numerical}}" for j in range(features))
    (folder / "m.yaml").write_text(f"""model: m
store: {{kind: duckdb, path: run_cost.duckdb{f", memory_limit: {MEMORY_LIMIT}" if MEMORY_LIMIT else ""}}}
predictions: {{table: predictions, timestamp: ts, request_id: request_id, model_column: model_name,
              version_column: model_version}}
features:
{feats}
  - {{name: cat, kind: categorical}}
prediction: {{probability: probability, class: predicted_class, threshold: 0.5, positive_class: 1}}
labels: {{table: labels, join_key: request_id, column: label}}
reference: {{table: reference}}
window: {{length: {window}}}
report: {{directory: reports}}
""")
    return folder


# ---- child side ------------------------------------------------------------------------------

def _cpu() -> float:
    import resource

    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rss_by_phase() -> dict[str, dict[str, float]]:
    """Peak and end RSS (MiB) of each phase of the runs in this process, filled in as they run.

    Each phase mark (monitor.pipeline.failures.phase) reads VmHWM, the peak since the previous mark, and
    resets it (Linux's /proc/self/clear_refs "5"), so every phase gets its own peak; VmRSS at the mark is
    what the phase left resident (DuckDB's buffer cache, frames still referenced)."""
    import monitor.pipeline.profiles
    import monitor.pipeline.run
    import monitor.pipeline.sampled  # noqa: F401  (imported so that their `phase` is the one patched)
    from monitor.pipeline import failures

    original, by_phase = failures.phase, {}

    def marked(name: str) -> None:
        current = failures._PHASE.get()
        peak, now = _status_mb("VmHWM"), _status_mb("VmRSS")
        seen = by_phase.setdefault(current, {"peak_mb": 0.0, "end_mb": 0.0})
        seen["peak_mb"], seen["end_mb"] = max(seen["peak_mb"], peak), now
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")
        original(name)

    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("monitor.") and getattr(mod, "phase", None) is original:
            mod.phase = marked
    return by_phase


def child_cli(args: dict[str, Any]) -> dict[str, Any]:
    """`driftline ARGV --json` in this fresh process: its summaries, CPU, peak RSS and RSS per phase."""
    from monitor.cli import main

    before = _status_mb("VmHWM")  # the interpreter and the imports, before any query
    by_phase = _rss_by_phase()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(args["argv"])
    summaries = json.loads(out.getvalue() or "[]")
    failed = [line for line in err.getvalue().splitlines() if line.startswith("driftline:")]
    # VmHWM was reset at each phase mark: the process's peak is the largest of the phases' and since the last
    peak = max([before, peak_mb(), *(p["peak_mb"] for p in by_phase.values())])
    return {"rc": rc, "failures": failed, "cpu_seconds": _cpu(), "peak_rss_mb": peak, "imports_rss_mb": before,
            "rss_by_phase": by_phase, "runs": [
        {"rows": s["rows"], "seconds": s["extra"].get("seconds"), "phases": s["extra"].get("phases", {}),
         "drifted": [f["name"] for f in s["features"] if f["drifted"]], "dataset_drift": s["dataset_drift"],
         "multivariate_auc": (s.get("multivariate") or {}).get("auc"), "report_path": s["extra"].get("report_path")}
        for s in summaries]}


def child_scan(args: dict[str, Any]) -> dict[str, Any]:
    """DuckDB reading the run's columns of the window once: the baseline (warm-up, then best of 3)."""
    import duckdb

    con = duckdb.connect(args["db"], read_only=True)
    aggs = [f"SUM(f{j})" for j in range(args["features"])] + ["MAX(cat)", "SUM(probability)",
                                                               "SUM(predicted_class)"]
    sql = (f"SELECT COUNT(*), {', '.join(aggs)} FROM predictions WHERE ts >= TIMESTAMP '{args['start']}' "
           f"AND ts < TIMESTAMP '{args['end']}' AND model_name = 'm'")
    con.execute(sql).fetchall()
    best = (1e9, 0.0)
    for _ in range(3):
        c0, t0 = _cpu(), time.perf_counter()
        con.execute(sql).fetchall()
        best = min(best, (time.perf_counter() - t0, _cpu() - c0))
    return {"seconds": best[0], "cpu_seconds": best[1], "peak_rss_mb": peak_mb()}


def child_report(args: dict[str, Any]) -> dict[str, Any]:
    """Evidently's report as the run defers it: built from the run's saved samples."""
    from monitor.pipeline import report_jobs
    from reports.evidently_report import build_report

    c0, t0 = _cpu(), time.perf_counter()
    built = report_jobs.build(Path(args["path"]), build_report)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": _cpu() - c0, "peak_rss_mb": peak_mb(),
            "built": built is not None}


def child_evidently(args: dict[str, Any]) -> dict[str, Any]:
    """Evidently's DataDriftPreset on the whole window (pandas frames; loading them excluded)."""
    import warnings

    import duckdb
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    warnings.filterwarnings("ignore")
    names = [f"f{j}" for j in range(args["features"])]
    con = duckdb.connect(args["db"], read_only=True)
    cols = ", ".join([*names, "cat"])
    current = con.execute(f"SELECT {cols} FROM predictions WHERE ts >= TIMESTAMP '{args['start']}' "
                          f"AND ts < TIMESTAMP '{args['end']}'").df()
    reference = con.execute(f"SELECT {cols} FROM reference").df()
    con.close()
    definition = DataDefinition(numerical_columns=names, categorical_columns=["cat"])
    c0, t0 = _cpu(), time.perf_counter()
    Report([DataDriftPreset()]).run(Dataset.from_pandas(current, data_definition=definition),
                                    Dataset.from_pandas(reference, data_definition=definition))
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": _cpu() - c0, "peak_rss_mb": peak_mb()}


CHILDREN = {"cli": child_cli, "scan": child_scan, "report": child_report, "evidently": child_evidently}


# ---- parent side -----------------------------------------------------------------------------

def child(mode: str, args: dict[str, Any], cwd: Path, timeout: float = TIMEOUT) -> dict[str, Any]:
    """One measurement in a fresh interpreter: its JSON, with the process's wall seconds start to exit."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "child", mode, json.dumps(args)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {' | '.join(proc.stderr.strip().splitlines()[-3:])}"}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "process_seconds": wall}


def _run_argv(folder: Path, at: datetime) -> list[str]:
    return ["run", "--config-dir", str(folder), "--at", at.isoformat(), "--json", "--quiet"]


def measure_run(work: Path, rows: int, features: int, *, evidently: bool, quick: bool = False) -> dict[str, Any]:
    """A cold run (10,000 rows: the reference's specs built) then the measured window on the cached ones.

    quick: the measured window's run is the cold one, and the deferred report is not built.
    """
    folder = prepare(work / f"run_{rows}_{features}", features, [rows] if quick else [10_000, rows])
    db = str(folder / "run_cost.duckdb")
    out: dict[str, Any] = {"rows": rows, "features": features, "load_average": os.getloadavg()}
    day = 1 if quick else 2
    if not quick:
        out["first"] = child("cli", {"argv": _run_argv(folder, DAY0 + timedelta(days=1))}, folder)
    out["run"] = child("cli", {"argv": _run_argv(folder, DAY0 + timedelta(days=day))}, folder)
    start, end = DAY0 + timedelta(days=day - 1), DAY0 + timedelta(days=day)
    out["scan"] = child("scan", {"db": db, "features": features, "start": str(start), "end": str(end)}, folder)
    path = (out["run"].get("runs") or [{}])[0].get("report_path")
    out["report"] = {"error": "skipped (--quick)"} if quick else child("report", {"path": path}, folder) \
        if path else {"error": "no report path"}
    if evidently:
        out["evidently"] = child("evidently", {"db": db, "features": features, "start": str(start),
                                               "end": str(end)}, folder, timeout=900)
    shutil.rmtree(folder, ignore_errors=True)
    return out


def measure_backfill(work: Path, windows: int, rows: int) -> dict[str, Any]:
    """`driftline backfill` of `windows` daily windows (reports skipped, the default)."""
    # The windows end before today (a window in the future is refused): 90 days from DAY0 would not.
    day0 = min(DAY0, datetime.combine(datetime.now().date(), datetime.min.time()) - timedelta(days=windows + 1))
    folder = prepare(work / "backfill", 13, [rows] * windows, day0=day0)
    argv = ["backfill", "--config-dir", str(folder), "--from", day0.isoformat(),
            "--to", (day0 + timedelta(days=windows)).isoformat(), "--json", "--quiet"]
    out = child("cli", {"argv": argv}, folder)
    scan = child("scan", {"db": str(folder / "run_cost.duckdb"), "features": 13, "start": str(day0),
                          "end": str(day0 + timedelta(days=windows))}, folder)
    shutil.rmtree(folder, ignore_errors=True)
    runs = out.pop("runs", [])
    phases: dict[str, float] = {}
    for r in runs:
        for name, cost in r["phases"].items():
            phases[name] = phases.get(name, 0.0) + cost["wall"]
    return {**out, "windows": len(runs), "rows": rows, "phase_wall_totals": phases, "scan": scan,
            "flagged_windows": sum(bool(r["drifted"]) or r["dataset_drift"] for r in runs)}


def measure_hourly(work: Path, rows: int) -> dict[str, Any]:
    """On main a 24h window cannot slide: an hourly evaluation re-runs 24 h. Beside it, a 1h window's run."""
    out: dict[str, Any] = {"rows_per_day": rows}
    for length, at in (("24h", DAY0 + timedelta(days=2)), ("1h", DAY0 + timedelta(days=1, hours=13))):
        folder = prepare(work / f"hourly_{length}", 13, [10_000, rows], window=length)
        child("cli", {"argv": _run_argv(folder, DAY0 + timedelta(days=1))}, folder)  # the reference, cached
        out[length] = child("cli", {"argv": _run_argv(folder, at)}, folder)
        shutil.rmtree(folder, ignore_errors=True)
    return out


def _line(m: dict[str, Any]) -> str:
    if "error" in m.get("run", {}) or not m["run"].get("runs"):
        why = m["run"].get("error") or m["run"].get("failures")
        return f"{m['rows']:>10,} x {m['features']:>3}: run failed: {why}"
    run = m["run"]
    r = run["runs"][0]
    top = sorted(r["phases"].items(), key=lambda kv: -kv[1]["wall"])[:4]
    scan = m["scan"].get("seconds", float("nan"))
    rep = m["report"].get("seconds", float("nan"))
    scan = scan if "seconds" in m["scan"] else float("nan")
    by_rss = run.get("rss_by_phase") or {}
    top_rss = max(by_rss, key=lambda k: by_rss[k]["peak_mb"], default="?")
    return (f"{m['rows']:>10,} x {m['features']:>3}: process {run['process_seconds']:6.2f} s, run {r['seconds']:6.2f} s,"
            f" CPU {run['cpu_seconds']:6.2f} s, peak {run['peak_rss_mb']:5.0f} MB (in {top_rss}); scan {scan:.3f} s; "
            f"report (deferred) {rep:.2f} s; " + ", ".join(f"{k} {v['wall']:.2f}" for k, v in top))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one cold 10,000-row run and a 2-window backfill (CI)")
    ap.add_argument("--out", type=Path, help="where to write the JSON (default: bench/out/run_cost[_quick].json)")
    ap.add_argument("--only", choices=["runs", "wide", "backfill", "hourly"], action="append",
                    help="run only these parts (repeatable; default: all)")
    ap.add_argument("--sizes", nargs="+", metavar="ROWSxFEATURES",
                    help="only these runs, e.g. 1000000x13 10000000x13 (default: the whole table above)")
    ap.add_argument("--work", type=Path, default=Path(f"/tmp/run_cost-{os.getpid()}"),
                    help="scratch folder for the DuckDB files (deleted after each measurement)")
    ap.add_argument("--memory-limit", help="DuckDB's memory limit in the store's config, e.g. 4GB (default: the "
                    "store's own default)")
    args = ap.parse_args()
    global MEMORY_LIMIT
    MEMORY_LIMIT = args.memory_limit
    parts = set(args.only or ["runs", "wide", "backfill", "hourly"])
    result: dict[str, Any] = {"machine": machine(), "started": datetime.now().isoformat(timespec="seconds"),
                              "runs": []}
    sizes = [(10_000, 13)] if args.quick else []
    if not args.quick and "runs" in parts:
        sizes += [(10_000, 13), (100_000, 13), (1_000_000, 13), (10_000_000, 13)]
    if not args.quick and "wide" in parts:
        sizes += [(1_000_000, 50), (1_000_000, 200)]
    if args.sizes:
        sizes = [(int(r), int(f)) for r, f in (x.lower().split("x") for x in args.sizes)]
    OUT.mkdir(exist_ok=True)
    path = args.out or OUT / ("run_cost_quick.json" if args.quick else "run_cost.json")

    def save() -> None:  # after every measurement: a long benchmark stopped early keeps what it measured
        path.write_text(json.dumps(result, indent=2, default=str))

    for rows, features in sizes:
        m = measure_run(args.work, rows, features, evidently=not args.quick and rows <= 1_000_000 and features == 13,
                        quick=args.quick)
        result["runs"].append(m)
        print(_line(m), flush=True)
        save()
    if "backfill" in parts:
        result["backfill"] = measure_backfill(args.work, *((2, 2_000) if args.quick else (90, 100_000)))
        save()
        b = result["backfill"]
        print(f"backfill: {b.get('windows')} windows, process {b.get('process_seconds', 0):.1f} s, "
              f"peak {b.get('peak_rss_mb', 0):.0f} MB; scan of all rows {b['scan'].get('seconds', 0):.3f} s", flush=True)
    if "hourly" in parts and not args.quick:
        result["hourly"] = measure_hourly(args.work, 1_000_000)
        print("hourly: " + ", ".join(f"{k} window run {v['runs'][0]['seconds']:.2f} s" for k, v in
                                     result["hourly"].items() if isinstance(v, dict) and v.get("runs")), flush=True)
    save()
    shutil.rmtree(args.work, ignore_errors=True)
    print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(CHILDREN[sys.argv[2]](json.loads(sys.argv[3])), default=str))
    else:
        main()
