"""`driftline run --dry-run`: the bytes a run would process from BigQuery dry-run jobs; nothing stored or sent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor import cli
from monitor.config import load_model_config
from monitor.demo import simulate
from monitor.errors import StoreError
from monitor.pipeline.dry_run import dry_run
from monitor.sql.queries import Query
from monitor.stores.bigquery.store import BigQueryStore, PredictionsLayout
from monitor.stores.duckdb import DuckDBStore
from tests.conftest import START, write_config

AT = START + timedelta(days=5)


def test_on_duckdb_the_dry_run_says_it_is_not_applicable_and_runs_nothing(
        config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--dry-run", "--config-dir", str(config_dir), "--at", AT.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "wheel-assembly: window 2026-11-20 00:00 -> 2026-11-21 00:00 UTC: bytes processed not applicable" in out
    cfg = load_model_config(config_dir / "wheel-assembly.yaml")
    store = DuckDBStore(cfg.resolve(cfg.store.path))
    assert list(store.list_runs()) == []  # no run stored
    store.close()


class _Dry(BigQueryStore):
    """The BigQuery store, keeping the job of every dry run it sends (the client is the real one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.jobs: list[Any] = []
        self.ran: list[Query] = []

    def _run(self, q: Query, what: str = "BigQuery query failed") -> Any:
        self.ran.append(q)
        return super()._run(q, what)

    def estimate(self, q: Query) -> int:
        real = self._client.query

        def keep(*args: Any, **kwargs: Any) -> Any:
            job = real(*args, **kwargs)
            self.jobs.append(job)
            return job

        self._client.query = keep  # type: ignore[method-assign]
        try:
            return super().estimate(q)
        finally:
            self._client.query = real  # type: ignore[method-assign]


def test_on_bigquery_every_query_of_the_run_is_a_dry_run_job_and_nothing_is_stored(
        tmp_path: Path, bq_client: Any, bq_dataset: str) -> None:
    write_config(tmp_path, report="{evidently: true}",
                 store=f"{{kind: bigquery, project: {bq_client.project}, dataset: {bq_dataset}}}")
    cfg = load_model_config(tmp_path / "wheel-assembly.yaml")
    store = _Dry(bq_client, bq_dataset, layouts=[PredictionsLayout.from_model_config(cfg)], retries=1, timeout=60)
    store.init()
    logs, labels = simulate.traffic(6, 100, START, scenario="none")
    store.insert_frame(cfg.predictions.table, logs)
    store.upsert_labels("labels", labels, "request_id")
    store.ran.clear()
    d = dry_run(cfg, store, AT)  # no reference yet: the dry run needs none
    whats = [w for w, _ in d.queries]
    assert whats[:4] == ["profile", "model versions", "performance counts", "report sample"]
    assert whats[4] == "late labels: count over the 14 past windows" and len(whats) == 4 + 1 + 14
    # Every query went as a dry-run job (the emulator meters 0 bytes); none ran, so nothing was stored.
    assert len(store.jobs) == len(whats) and all(j.dry_run for j in store.jobs)
    assert d.total == 0 and all(isinstance(b, int) for _, b in d.queries)
    assert [q.sql.split()[0] for q in store.ran] == []
    assert list(store.list_runs()) == []
    assert store.query(Query(f"SELECT COUNT(*) AS n FROM {store.table('driftline_state')}"))[0]["n"] == 0
    assert "would process 0 bytes (0.0 MB, est. $0.0000 at on-demand prices)" in d.lines()[0]


def test_a_dry_run_of_a_query_bigquery_would_reject_is_a_store_error(bq_client: Any, bq_dataset: str) -> None:
    store = BigQueryStore(bq_client, bq_dataset, retries=0, timeout=30)
    store.init()
    with pytest.raises(StoreError):
        store.estimate(Query(f"SELECT no_such_column FROM {store.table('driftline_runs')}"))
