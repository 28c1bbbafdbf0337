"""Fixtures for the store tests: a local BigQuery (bqemulator) on 127.0.0.1, shared by the session.

The emulator runs in its own process (tests/monitor/stores/emulator.py) with the workarounds it needs
offline, each explained there: no spatial extension download, BQEMU_ENABLE_FORMAT_EXTENSIONS=false,
DuckDB's single-arrow lambda syntax (for RANGE_BUCKET), '*/*' accepted for load jobs, and insertId
de-duplication as BigQuery does it. None of them changes what the client or Driftline sends, so
what runs here runs unchanged against real BigQuery. Results are read with
`create_bqstorage_client=False` / `query_and_wait`, since the Storage API does not exist here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.monitor.stores.emulator import Emulator


@pytest.fixture(scope="session")
def bq_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The running emulator; a test may stop() and start() it again (same port, same data)."""
    pytest.importorskip("bqemulator", reason="bqemulator is not installed: BigQuery tests need the local emulator")
    pytest.importorskip("google.cloud.bigquery", reason="google-cloud-bigquery is not installed")
    emulator = Emulator(tmp_path_factory.mktemp("bqemulator"))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def bq_live(bq_emulator: Emulator) -> Emulator:
    """The emulator, restarted first if an earlier test left it stopped."""
    if not bq_emulator.running:
        bq_emulator.start()
    return bq_emulator


@pytest.fixture(scope="session")
def bq_client(bq_emulator: Emulator) -> Any:
    """A google.cloud.bigquery.Client pointed at the emulator (AnonymousCredentials, test project)."""
    return bq_emulator.client()


@pytest.fixture
def bq_dataset(bq_live: Emulator, bq_client: Any) -> Iterator[str]:
    """A fresh, empty dataset name for one test, deleted afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    if bq_live.running:
        bq_client.delete_dataset(f"{bq_live.project}.{name}", delete_contents=True, not_found_ok=True)
