"""The newcomer's first command, end to end, as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_silence_add_list_expire_and_ack_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from monitor import cli
    from monitor.api import wiring as service
    from tests.conftest import write_config

    write_config(tmp_path)
    common = ["--config-dir", str(tmp_path)]
    try:
        assert cli.main(["silence", "add", *common, "--feature", "tire_type", "--for", "3d",
                         "--reason", "new tire batch", "--by", "ana"]) == 0
        made = json.loads(capsys.readouterr().out)
        assert (made["subject"], made["created_by"], made["active"]) == ("tire_type", "ana", True)
        assert cli.main(["silence", "list", *common]) == 0
        assert [s["id"] for s in json.loads(capsys.readouterr().out)] == [made["id"]]
        assert cli.main(["silence", "expire", *common, made["id"]]) == 0
        assert json.loads(capsys.readouterr().out)["active"] is False
        assert cli.main(["silence", "list", *common]) == 0
        assert json.loads(capsys.readouterr().out) == []
        with pytest.raises(SystemExit):
            cli.main(["silence", "add", *common, "--for", "3x", "--reason", "r"])
        assert "not a duration" in capsys.readouterr().err
        assert cli.main(["ack", *common, "--rule", "feature_drift"]) == 2  # nothing open
        assert "no single open incident" in capsys.readouterr().err
    finally:
        service.close_stores()
