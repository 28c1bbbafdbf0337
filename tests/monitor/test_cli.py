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


def test_ingest_exits_non_zero_with_one_line_when_a_file_is_rejected(tmp_path: Path) -> None:
    from datetime import datetime

    import pandas as pd

    from monitor.demo import simulate
    from tests.conftest import write_config

    write_config(tmp_path, report="{evidently: false}")
    logs, _ = simulate.traffic(1, 300, datetime(2026, 11, 16), scenario="none")
    logs.rename(columns={"ts": "time"}).to_csv(tmp_path / "wrong.csv", index=False)  # the wrong timestamp column
    out = _driftline("ingest", "--config-dir", str(tmp_path), "predictions", str(tmp_path / "wrong.csv"), cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert json.loads(out.stdout)["rows_rejected"] == 300
    assert out.stderr.strip().splitlines() == [
        "driftline ingest: wrong.csv: 300 of 300 rows rejected (every row rejected); most: missing required column ts "
        "(300 e.g. 'the file has: request_id, time, model_name, model_version, step_mean, step_std, ... (47 columns)')"]
    labels = "request_id,label\n" + "".join(f"{r},yes\n" for r in logs["request_id"][:20])
    (tmp_path / "l.csv").write_text(labels)
    out = _driftline("ingest", "--config-dir", str(tmp_path), "labels", str(tmp_path / "l.csv"), cwd=tmp_path)
    assert out.returncode == 1 and "most: label not 0/1 (20 e.g. 'yes')" in out.stderr
    bad = logs.iloc[280:].assign(ts="soon")
    pd.concat([logs.iloc[:280], bad]).to_csv(tmp_path / "some.csv", index=False)  # 20 of 300 bad: 6.7%
    out = _driftline("ingest", "--config-dir", str(tmp_path), "--max-rejected-share", "0.05", "predictions",
                     str(tmp_path / "some.csv"), cwd=tmp_path)
    assert out.returncode == 1 and "(7% of the new rows rejected > 5% allowed)" in out.stderr
    assert json.loads(out.stdout)["rows_loaded"] == 280  # the good rows are kept all the same
    out = _driftline("ingest", "--config-dir", str(tmp_path), "predictions", str(tmp_path / "some.csv"), cwd=tmp_path)
    assert out.returncode == 1  # again: the 280 are stored already, and every new row is rejected
    assert "20 of 300 rows rejected, 280 already stored (100% of the new rows rejected > 10% allowed)" in out.stderr
    (tmp_path / "fine.csv").write_text(logs.assign(request_id="new-" + logs["request_id"]).to_csv(index=False))
    out = _driftline("ingest", "--config-dir", str(tmp_path), "predictions", str(tmp_path / "fine.csv"), cwd=tmp_path)
    assert out.returncode == 0 and out.stderr == ""


def test_check_passes_the_demo_config_and_names_three_problems_of_a_broken_one(tmp_path: Path) -> None:
    from datetime import datetime

    from monitor.demo import simulate
    from monitor.stores.duckdb import DuckDBStore
    from tests.conftest import EXAMPLE

    good, broken = tmp_path / "good", tmp_path / "broken"
    good.mkdir()
    broken.mkdir()
    (good / "wheel-assembly.yaml").write_text(EXAMPLE.read_text())
    text = EXAMPLE.read_text().replace("{name: fz_mean, kind", "{name: fz_maen, kind")
    text = text.replace("probability: probability", "probability: prob").replace("join_key: request_id", "join_key: req_id")
    (broken / "wheel-assembly.yaml").write_text(text.replace("path: driftline.duckdb", f"path: {good}/driftline.duckdb"))
    store = DuckDBStore(good / "driftline.duckdb")
    store.insert_frame("reference_wheel_assembly", simulate.reference(2000))
    logs, labels = simulate.traffic(1, 300, datetime(2026, 11, 16), scenario="none")
    store.insert_frame("predictions", logs)
    store.upsert_labels("labels", labels, "request_id")
    store.close()
    ok = _driftline("check", "--config-dir", str(good), cwd=tmp_path)
    assert (ok.returncode, ok.stdout) == (0, "ok: wheel-assembly\n"), ok.stderr
    bad = _driftline("check", "--config-dir", str(broken), cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    lines = bad.stdout.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["features.5 (fz_maen)", "prediction.probability",
                                                              "labels.join_key"]
    assert "(closest: fz_mean)" in lines[0] and "(closest: probability)" in lines[1] and "(closest: request_id)" in lines[2]
    run = _driftline("run", "--config-dir", str(broken), "--at", "2026-11-17T00:00Z", cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "wheel-assembly: run failed in check: ConfigError: wheel-assembly: features.5 (fz_maen)" in run.stderr
