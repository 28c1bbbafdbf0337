"""The newcomer's first command, end to end, as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.monitor.pipeline.test_run import SHIFTED

ROOT = Path(__file__).resolve().parents[2]


def _driftline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], cwd=cwd, capture_output=True, text=True, check=False,
                          timeout=600, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_demo_flags_the_injected_drift_and_alerts_warn_critical_resolved(tmp_path: Path) -> None:
    out = _driftline("demo", "--dir", str(tmp_path / "demo"), "--json", "--per-day", "800", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    runs = json.loads(out.stdout)  # stdout is exactly one JSON array
    assert [r["window"]["start"][:10] for r in runs] == [f"2026-11-{d}" for d in range(16, 23)]
    for r in runs:
        drifted = {f["name"] for f in r["features"] if f["drifted"]}
        assert drifted <= SHIFTED, (r["run_id"], drifted)  # untouched features are never flagged
        assert Path(r["extra"]["report_path"]).exists()
    assert all(not any(f["drifted"] for f in r["features"]) for r in runs[:3])  # unchanged days
    assert {f["name"] for f in runs[4]["features"] if f["drifted"]} == SHIFTED  # full strength
    severities = [a["severity"] for r in runs for a in r["alerts"] if a["rule"] == "feature_drift"]
    assert severities == ["warn", "critical", "critical", "resolved"]
    console = [line.split("]")[0] + "]" for line in out.stderr.splitlines() if line.startswith("[")]
    assert console.index("[WARN]") < console.index("[CRITICAL]") < console.index("[RESOLVED]")


def test_cli_errors_are_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("model: m\nfeatures: []\n")
    out = _driftline("run", "--config-dir", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 2
    assert "ConfigError" in out.stderr and "features" in out.stderr and "Traceback" not in out.stderr


def test_refresh_rescores_the_windows_whose_labels_landed_and_pages_once(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from monitor.api import wiring
    from monitor.cli import main
    from monitor.config import load_model_config
    from monitor.demo import simulate
    from tests.conftest import START, write_config

    path = write_config(tmp_path, report="{evidently: false}", window="{length: 24h, min_rows: 200}")
    path.write_text(path.read_text().replace("    for_runs: 2\n    of_last: 3\n", "    for_runs: 1\n"))
    store = wiring.open_store(load_model_config(path))
    try:
        store.insert_frame("reference_wheel_assembly", simulate.reference(4000))
        logs, labels = simulate.traffic(5, 600, START, scenario="concept_drift")
        store.insert_frame("predictions", logs)
        assert main(["run", "--config-dir", str(tmp_path), "--at", "2026-11-20T00:00Z", "--json"]) == 0
        capsys.readouterr()
        in_window = (logs["ts"] >= START + timedelta(days=3)).to_numpy()
        store.upsert_labels("labels", labels[in_window], "request_id")
        args = ["refresh", "--config-dir", str(tmp_path), "--from", "2026-11-16", "--to", "2026-11-23", "--json"]
        assert main(args) == 0
        out = capsys.readouterr()
        refreshed = json.loads(out.out)
        assert [r["window"]["start"][:10] for r in refreshed] == ["2026-11-19"]
        perf = refreshed[0]["performance"]
        assert perf["status"] == "final" and perf["metrics"]["recall_0"]["verdict"] == "drop"
        assert sum("[CRITICAL]" in line and "recall_0" in line for line in out.err.splitlines()) == 1
        assert main(args) == 0  # again: nothing moved, nothing re-scored, nothing sent
        out = capsys.readouterr()
        assert json.loads(out.out) == [] and "[CRITICAL]" not in out.err
    finally:
        wiring.close_stores()
        wiring._notifiers.clear()


def test_the_table_prints_the_important_class_recall() -> None:
    from monitor.cli import performance_lines
    from tests.alerts.conftest import make_summary

    s = make_summary(0)
    metrics = {"recall_0": {"value": 0.9, "verdict": "ok"}, "recall_1": {"value": 0.41, "verdict": "drop"},
               "accuracy": {"value": 0.8, "verdict": "ok"}}
    s.performance = {"status": "provisional", "key_class": 1, "coverage": {"fraction": 0.8}, "metrics": metrics}
    assert performance_lines(s) == [
        "performance realized [provisional, 80% labelled; class 1 is important]: recall_1 0.410 (DROP), accuracy 0.800 (ok)"]
