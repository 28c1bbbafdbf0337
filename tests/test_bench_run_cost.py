"""bench/run_cost.py --quick: the whole-run benchmark runs end to end (its numbers live in docs/scale.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_run_cost_quick_measures_a_run_by_phase_and_a_backfill(tmp_path: Path) -> None:
    out = tmp_path / "run_cost.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run_cost.py"), "--quick", "--work",
                           str(tmp_path / "work"), "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    [m] = result["runs"]
    run = m["run"]
    assert "error" not in run and run["rc"] == 0 and run["peak_rss_mb"] > 0 and run["cpu_seconds"] > 0
    [summary] = run["runs"]
    assert summary["rows"] == 10_000
    assert {"reference", "profile", "samples", "classifier", "decide", "performance", "alerts"} <= set(
        summary["phases"])
    # peak RSS per phase (VmHWM reset at each phase mark): the process's peak is at least each of them
    phase_peaks = [p["peak_mb"] for p in run["rss_by_phase"].values()]
    assert run["peak_rss_mb"] >= max(phase_peaks) > run["imports_rss_mb"]
    assert {"profile", "samples", "performance"} <= set(run["rss_by_phase"])
    assert m["scan"]["seconds"] > 0
    assert result["backfill"]["windows"] == 2 and "error" not in result["backfill"]
    assert not (tmp_path / "work").exists()  # scratch files removed
