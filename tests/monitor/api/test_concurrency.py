"""DuckDB under a running service: reads never wait for a run, /healthz never waits for the thread pool."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from monitor.api import wiring as service
from monitor.api.app import create_app
from monitor.config import Settings, load_model_config
from monitor.demo import simulate
from monitor.stores.duckdb import DuckDBStore
from tests.conftest import START, write_config
from tests.monitor.api.test_app import _free_port, serve


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[httpx.Client, Path]]:
    write_config(tmp_path, report="{evidently: false}")
    store = DuckDBStore(tmp_path / "driftline.duckdb")
    store.insert_frame("reference_wheel_assembly", simulate.reference(1000))
    store.insert_frame("predictions", simulate.traffic(3, 300, START, scenario="none")[0])
    store.close()
    app = create_app(Settings(config_dir=str(tmp_path), auth_mode="local-open"))
    server, thread = serve(app, _free_port())
    with httpx.Client(base_url=f"http://127.0.0.1:{server.config.port}", timeout=30) as client:
        yield client, tmp_path
    server.should_exit = True
    thread.join(10)
    service.close_stores()


def test_reads_do_not_wait_for_a_running_run(api: tuple[httpx.Client, Path]) -> None:
    client, directory = api
    assert client.post("/run", params={"at": (START + timedelta(days=2)).isoformat()}).status_code == 200
    store = service.open_store(load_model_config(directory / "wheel-assembly.yaml"))
    released = threading.Event()
    held = threading.Event()

    def a_long_run() -> None:
        with store.lock:  # what a run holds from its start to its save (the audit: reads waited 9.2 s of 10.2 s)
            held.set()
            released.wait(30)

    runner = threading.Thread(target=a_long_run)
    runner.start()
    held.wait(5)
    try:
        for path in ("/healthz", "/runs", "/report", "/metrics"):
            t0 = time.monotonic()
            response = client.get(path, timeout=5)
            assert response.status_code == 200, (path, response.text[:200])
            assert time.monotonic() - t0 < 5
        assert client.get("/runs").json()["runs"]  # the stored run is read while the "run" holds the lock
    finally:
        released.set()
        runner.join(10)


def _post_run(url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the server may stop before it answers
        httpx.post(url, timeout=60)


def test_healthz_answers_while_the_thread_pool_is_full_of_waiting_runs(api: tuple[httpx.Client, Path]) -> None:
    client, directory = api
    store = service.open_store(load_model_config(directory / "wheel-assembly.yaml"))
    blockers = []
    with store.lock:  # every POST /run below waits on it, filling the server's worker threads
        for _ in range(45):
            t = threading.Thread(target=_post_run, args=(str(client.base_url.join("/run")),), daemon=True)
            t.start()
            blockers.append(t)
        time.sleep(1.0)
        t0 = time.monotonic()
        assert client.get("/healthz", timeout=5).status_code == 200
        elapsed = time.monotonic() - t0
    assert elapsed < 1.0, elapsed  # the audit: 4.4 s under 45 concurrent POSTs

