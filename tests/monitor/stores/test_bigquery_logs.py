"""Logs where they already are: predictions and labels in their own datasets, Driftline's state in its own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import ModelConfig, load_model_config
from monitor.demo import simulate
from monitor.errors import ConfigError, UnsafeIdentifier
from monitor.pipeline.run import run_window
from monitor.stores.bigquery.store import BigQueryStore, PredictionsLayout
from monitor.stores.duckdb import DuckDBStore
from tests.conftest import START, write_config
from tests.monitor.stores.emulator import Emulator
from tests.monitor.stores.recording import RecordingStore
from tests.monitor.stores.test_bigquery import DAY_HIT, _assert_same_run

_WRITES = re.compile(r"^\s*(MERGE|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP)\b", re.IGNORECASE)


def _config(directory: Path, project: str, state: str, logs: str, labels: str) -> ModelConfig:
    write_config(directory, report="{evidently: false}",
                 store=f"{{kind: bigquery, project: {project}, dataset: {state}}}",
                 predictions=f"{{table: {logs}.predictions}}", labels=f"{{table: {project}.{labels}.labels}}")
    return load_model_config(directory / "wheel-assembly.yaml")


@pytest.fixture
def split(tmp_path: Path, bq_live: Emulator, bq_client: Any, bq_dataset: str) -> Iterator[tuple[ModelConfig, str, str]]:
    """A config reading logs from <ds>_logs.predictions and labels from <ds>_labels.labels, state in <ds>."""
    logs, labels = f"{bq_dataset}_logs", f"{bq_dataset}_labels"
    for ds in (logs, labels):
        bq_client.create_dataset(f"{bq_live.project}.{ds}")
    yield _config(tmp_path, bq_live.project, bq_dataset, logs, labels), logs, labels
    for ds in (logs, labels):
        bq_client.delete_dataset(f"{bq_live.project}.{ds}", delete_contents=True, not_found_ok=True)


@pytest.mark.slow
def test_logs_and_labels_in_their_own_datasets_give_the_same_verdicts_as_duckdb(
        tmp_path: Path, bq_client: Any, bq_dataset: str, split: tuple[ModelConfig, str, str]) -> None:
    cfg, logs_ds, labels_ds = split
    logs, labels = simulate.traffic(6, 600, START, scenario="new_tire_batch")
    ref = simulate.reference(4000)
    # The serving app and the label pipeline write the logs datasets; Driftline only reads them.
    writer = BigQueryStore(bq_client, logs_ds, layouts=[PredictionsLayout.from_model_config(cfg)], retries=1,
                           backoff=0.05, timeout=120)
    writer.insert_frame(cfg.predictions.table, logs)
    writer.upsert_labels(cfg.labels.table, labels, "request_id")  # type: ignore[union-attr]
    bq = RecordingStore(bq_client, bq_dataset, retries=1, backoff=0.05, timeout=120)
    bq.init()
    bq.insert_frame(cfg.reference_table, ref)
    bq.sent.clear()

    b = run_window(cfg, bq, DAY_HIT)

    duck_dir = tmp_path / "duck"
    duck_dir.mkdir()
    write_config(duck_dir, report="{evidently: false}")
    duck_cfg = load_model_config(duck_dir / "wheel-assembly.yaml")
    duck = DuckDBStore(duck_cfg.resolve(duck_cfg.store.path))
    duck.insert_frame(duck_cfg.reference_table, ref)
    duck.insert_frame("predictions", logs)
    duck.upsert_labels("labels", labels, "request_id")
    try:
        d = run_window(duck_cfg, duck, DAY_HIT)
    finally:
        duck.close()
    _assert_same_run(d, b)
    # The labels were joined across datasets, the same ones as in DuckDB.
    assert b.performance is not None and d.performance is not None
    assert b.performance["coverage"] == d.performance["coverage"] and b.performance["coverage"]["labelled"] > 0
    assert b.model_version == d.model_version == "v1" and b.model_versions == {"v1": 1.0}
    reads = [q.sql for q in bq.sent if f"{logs_ds}.predictions" in q.sql]
    joined = [sql for sql in reads if "__label" in sql]
    assert joined and all(f"{labels_ds}.labels" in sql and "@l_since" in sql for sql in joined)
    # Read-only access to the logs datasets is enough: every write names Driftline's own dataset only.
    writes = [q.sql for q in bq.sent if _WRITES.match(q.sql)]
    assert writes and not [w for w in writes if logs_ds in w or labels_ds in w]


def test_init_creates_missing_log_tables_in_their_dataset_and_leaves_existing_ones(
        tmp_path: Path, bq_client: Any, bq_dataset: str, split: tuple[ModelConfig, str, str]) -> None:
    cfg, logs_ds, labels_ds = split
    store = BigQueryStore(bq_client, bq_dataset, layouts=[PredictionsLayout.from_model_config(cfg)], retries=1,
                          backoff=0.05, timeout=120)
    store.init()
    store.init()
    project = store.project
    preds = bq_client.get_table(f"{project}.{logs_ds}.predictions")
    assert preds.time_partitioning.field == "ts"
    lab = bq_client.get_table(f"{project}.{labels_ds}.labels")
    # Partitioned by arrival: a window's join reads the labels since its start, not every day kept.
    assert lab.time_partitioning.field == "labelled_at" and lab.clustering_fields == ["request_id"]
    assert not store.exists("predictions") and store.exists("driftline_runs")  # state stays in its dataset


@pytest.mark.parametrize("name", ["a.b.c.d", "my-project.ds.t`x", "ds.", ".t", "Bad_Project.ds.t", "ds.t;--"])
def test_bad_full_table_names_are_refused_in_the_config_and_the_store(tmp_path: Path, name: str) -> None:
    write_config(tmp_path, store="{kind: bigquery, project: my-project, dataset: driftline}",
                 predictions=f"{{table: '{name}'}}")
    with pytest.raises(ConfigError, match="predictions.table"):
        load_model_config(tmp_path / "wheel-assembly.yaml")
    store = BigQueryStore.__new__(BigQueryStore)
    store.project, store.dataset = "my-project", "driftline"
    with pytest.raises(UnsafeIdentifier):
        store.table(name)


def test_full_table_names_resolve_against_the_state_dataset_and_need_bigquery(tmp_path: Path) -> None:
    store = BigQueryStore.__new__(BigQueryStore)
    store.project, store.dataset = "my-project", "driftline"
    assert store.table("predictions") == "`my-project.driftline.predictions`"
    assert store.table("ml_logs.predictions") == "`my-project.ml_logs.predictions`"
    assert store.table("other-project.ml_logs.labels") == "`other-project.ml_logs.labels`"
    write_config(tmp_path, predictions="{table: ml_logs.predictions}")  # the example's store is DuckDB
    with pytest.raises(ConfigError, match="need store.kind: bigquery"):
        load_model_config(tmp_path / "wheel-assembly.yaml")


def test_the_bigquery_config_in_the_docs_is_valid_and_reads_logs_from_their_own_dataset(tmp_path: Path) -> None:
    import textwrap

    doc = (Path(__file__).resolve().parents[3] / "docs" / "bigquery.md").read_text()
    blocks = [textwrap.dedent(b) for b in re.findall(r"```yaml\n(.*?)```", doc, re.DOTALL)]
    (config,) = [b for b in blocks if b.lstrip().startswith("# config/")]
    (tmp_path / "m.yaml").write_text(config)
    cfg = load_model_config(tmp_path / "m.yaml")
    assert (cfg.store.kind, cfg.store.dataset) == ("bigquery", "driftline")
    assert cfg.predictions.table == "ml_logs.predictions" and cfg.labels is not None
    assert cfg.labels.table == "ml_logs.labels" and cfg.labels.timestamp == "labelled_at"


def test_a_bytes_guard_refusal_names_the_setting() -> None:
    from google.api_core import exceptions as gexc

    from monitor.errors import StoreError, StoreUnavailable
    from monitor.stores.bigquery.store import _translate

    refused = gexc.BadRequest("Query exceeded limit for bytes billed: 5000000000. 21474836480 or higher required.",
                              errors=[{"reason": "bytesBilledLimitExceeded"}])
    err = _translate(refused, "BigQuery query failed")
    assert isinstance(err, StoreError) and not isinstance(err, StoreUnavailable)
    assert "store.maximum_bytes_billed" in str(err)
