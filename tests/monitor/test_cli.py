"""The newcomer's first command, end to end, as a subprocess."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from monitor.demo import simulate
from monitor.stores.duckdb import DuckDBStore
from tests.conftest import START, write_config
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
    assert console.index("[WARN]") < console.index("[CRITICAL]")
    # The last day's one message (grouped, led by its most severe line) says the drift resolved.
    last = out.stderr[out.stderr.rindex("\n[") + 1:]
    assert "RESOLVED: feature drift back to normal" in last


def test_cli_errors_are_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("model: m\nfeatures: []\n")
    out = _driftline("run", "--config-dir", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 2
    assert "ConfigError" in out.stderr and "features" in out.stderr and "Traceback" not in out.stderr


def _logged_week(directory: Path) -> Path:
    """A config folder holding a reference and a week of new-tire-batch traffic, not yet run."""
    # 500 rows a day is this week's normal volume: a volume failure would (rightly) inhibit the drift alerts
    write_config(directory, report="{evidently: false}", window="{length: 24h, min_rows: 200, expected_rows: 500}")
    store = DuckDBStore(directory / "driftline.duckdb")
    store.insert_frame("reference_wheel_assembly", simulate.reference(3000))
    logs, _ = simulate.traffic(7, 500, START, scenario="new_tire_batch")
    store.insert_frame("predictions", logs)
    store.close()
    return directory


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A config folder with a week of new-tire-batch traffic, backfilled once with --json."""
    directory = _logged_week(tmp_path_factory.mktemp("week"))
    out = _driftline("backfill", "--config-dir", str(directory), "--from", "2026-11-16T00:00Z",
                     "--to", "2026-11-23T00:00Z", "--json", "--notify", cwd=directory)
    return directory, out


def test_backfill_json_is_valid_json_and_nothing_else(week) -> None:  # type: ignore[no-untyped-def]
    directory, out = week
    assert out.returncode == 0, out.stderr
    tool = subprocess.run([sys.executable, "-m", "json.tool"], input=out.stdout, capture_output=True, text=True,
                          check=False)
    assert tool.returncode == 0, tool.stderr
    runs = json.loads(out.stdout)
    assert [r["window"]["start"][:10] for r in runs] == [f"2026-11-{d}" for d in range(16, 23)]
    assert "[CRITICAL]" in out.stderr  # console alerts went to stderr, not into the JSON
    assert "\x1b[" not in out.stderr  # no progress bar when not on a terminal


def test_fail_on_drift_exits_1_on_a_drift_day_and_0_on_a_quiet_one(week) -> None:  # type: ignore[no-untyped-def]
    directory, _ = week
    drift = _driftline("run", "--config-dir", str(directory), "--at", "2026-11-21T00:00Z", "--fail-on", "drift",
                       cwd=directory)
    assert drift.returncode == 1, drift.stderr
    assert "fz_mean " in drift.stdout and " std" in drift.stdout  # the headline, in words
    quiet = _driftline("run", "--config-dir", str(directory), "--at", "2026-11-18T00:00Z", "--fail-on", "drift",
                       cwd=directory)
    assert quiet.returncode == 0, quiet.stderr
    # Without --fail-on, drift is not a failure; with -q after the subcommand, nothing is printed.
    plain = _driftline("run", "--config-dir", str(directory), "--at", "2026-11-21T00:00Z", "-q", cwd=directory)
    assert plain.returncode == 0 and plain.stdout == ""
    alert = _driftline("run", "--config-dir", str(directory), "--at", "2026-11-21T00:00Z", "--fail-on", "alert",
                       "--json", cwd=directory)
    assert alert.returncode == 1 and json.loads(alert.stdout)[0]["alerts"]


def test_exit_codes_for_usage_and_store_trouble(tmp_path: Path) -> None:
    usage = _driftline("run", "--at", "yesterday", cwd=tmp_path)
    assert usage.returncode == 2 and "ISO 8601" in usage.stderr
    write_config(tmp_path, report="{evidently: false}", predictions="{table: missing_table}")
    store = _driftline("run", "--config-dir", str(tmp_path), cwd=tmp_path)
    assert store.returncode == 3, store.stderr
    assert "TableNotFound" in store.stderr and "Traceback" not in store.stderr


def test_every_flag_has_help_and_there_is_a_version() -> None:
    from monitor.cli import parser

    p = parser()
    subparsers = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    for name, sp in {"driftline": p, **subparsers.choices}.items():
        for action in sp._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help text"
        if name != "driftline":
            flags = {f for a in sp._actions for f in a.option_strings}
            assert {"-v", "--verbose", "-q", "--quiet"} <= flags, name
    version = _driftline("--version", cwd=ROOT)
    assert version.returncode == 0 and version.stdout.startswith("driftline ")


def _on_a_terminal(*args: str, cwd: Path) -> str:
    """Run the CLI with stdout and stderr on a pseudo-terminal; return what the terminal showed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=follower, stderr=follower, close_fds=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "TERM": "xterm-256color",
                                 "COLUMNS": "160"})
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the follower closed: the process is done
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=600)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_backfill_and_ingest_show_progress_on_a_terminal_only(week, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    directory, _ = week
    shown = _on_a_terminal("backfill", "--config-dir", str(directory), "--from", "2026-11-16T00:00Z",
                           "--to", "2026-11-23T00:00Z", cwd=directory)
    assert "backfill 7 windows" in shown and "7/7" in shown and "ETA" in shown, shown[-2000:]
    assert shown.count("wheel-assembly  2026-11-") == 7  # each window's table as it finishes
    write_config(tmp_path, report="{evidently: false}")
    logs, _ = simulate.traffic(1, 300, START, scenario="none")
    logs.to_csv(tmp_path / "logs.csv", index=False)
    shown = _on_a_terminal("ingest", "--config-dir", str(tmp_path), "predictions", str(tmp_path / "logs.csv"),
                           cwd=tmp_path)
    assert "ingest logs.csv" in shown and "300/300" in shown and "rows/s" in shown, shown[-2000:]
    piped = _driftline("ingest", "--config-dir", str(tmp_path), "predictions", str(tmp_path / "logs.csv"),
                       cwd=tmp_path)
    assert piped.returncode == 0 and "ingest logs.csv" not in piped.stderr + piped.stdout
    piped_report = json.loads(piped.stdout)  # the same file again: every row is a duplicate, counted
    assert piped_report["rows_read"] == 300 and piped_report["rows_loaded"] + piped_report["rows_duplicate"] == 300


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
    from monitor.cli_table import performance_lines
    from tests.alerts.conftest import make_summary

    s = make_summary(0)
    metrics = {"recall_0": {"value": 0.9, "verdict": "ok"}, "recall_1": {"value": 0.41, "verdict": "drop"},
               "accuracy": {"value": 0.8, "verdict": "ok"}}
    s.performance = {"status": "provisional", "key_class": 1, "coverage": {"fraction": 0.8}, "metrics": metrics}
    assert performance_lines(s) == [
        "performance realized [provisional, 80% labelled; class 1 is important]: recall_1 0.410 (DROP), accuracy 0.800 (ok)"]


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


def test_quiet_silences_the_console_alert_channel(tmp_path: Path) -> None:
    _logged_week(tmp_path)
    quiet = _driftline("run", "--config-dir", str(tmp_path), "--at", "2026-11-21T00:00Z", "-q", "--json",
                       cwd=tmp_path)
    assert json.loads(quiet.stdout)[0]["alerts"]  # an alert was raised (and its console line went to stderr)
    assert "[CRITICAL]" in quiet.stderr or "[WARNING]" in quiet.stderr
    # A new alert, --quiet without --json: nothing at all on stdout, the console channel included.
    silent = _driftline("run", "--config-dir", str(tmp_path), "--at", "2026-11-22T00:00Z", "-q", cwd=tmp_path)
    assert silent.returncode == 0, silent.stderr
    assert silent.stdout == "" and "[CRITICAL]" not in silent.stderr and "[WARNING]" not in silent.stderr
