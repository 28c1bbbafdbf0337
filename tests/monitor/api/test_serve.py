"""`driftline ingest` and `run` while a real `driftline serve` holds the DuckDB file; serve logs each line once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from monitor.demo import simulate
from monitor.stores.duckdb import DuckDBStore
from tests.conftest import START, write_config
from tests.monitor.api.test_app import _free_port

REPO = Path(__file__).resolve().parents[3]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    write_config(tmp_path, report="{evidently: false}")
    store = DuckDBStore(tmp_path / "driftline.duckdb")
    store.insert_frame("reference_wheel_assembly", simulate.reference(1000))
    store.insert_frame("predictions", simulate.traffic(2, 300, START, scenario="none")[0])
    store.close()
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "serve", "--config-dir", str(tmp_path),
                                 "--port", str(port), "--auth", "local-open"], cwd=REPO, stderr=err,
                                stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"serve did not start: {log.read_text()[-2000:]}")
        time.sleep(0.3)
    yield url, tmp_path, log
    proc.terminate()
    proc.wait(20)


def test_ingest_and_run_go_through_the_running_service(served: tuple[str, Path, Path]) -> None:
    url, directory, _ = served
    assert (directory / "driftline.duckdb.serve.json").exists()
    day3 = simulate.traffic(3, 300, START, scenario="none")[0]
    day3 = day3[day3["ts"] >= START + timedelta(days=2)]
    day3.to_csv(directory / "day3.csv", index=False)
    out = _cli("ingest", "predictions", str(directory / "day3.csv"), "--config-dir", str(directory))
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert report["rows_loaded"] == len(day3) and report["rows_read"] == len(day3)
    out = _cli("run", "--config-dir", str(directory), "--at", (START + timedelta(days=3)).isoformat(), "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    summaries = json.loads(out.stdout)
    assert [s["rows"] for s in summaries] == [len(day3)]
    runs = httpx.get(f"{url}/runs").json()["runs"]
    assert [r["run_id"] for r in runs] == [summaries[0]["run_id"]]  # stored by the service, read back by it


def test_serve_logs_each_line_once(served: tuple[str, Path, Path]) -> None:
    url, _, log = served
    assert httpx.post(f"{url}/run", params={"model": "no-such-model"}).status_code == 400
    time.sleep(0.5)
    lines = [line for line in log.read_text().splitlines() if "no-such-model" in line and "ConfigError" in line]
    assert len(lines) == 1, log.read_text()[-2000:]
