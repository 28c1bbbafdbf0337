"""Issue 13 on the BigQuery emulator: ingest keyed by request id, `driftline check`, an empty window's volume."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from alerts.rules import evaluate
from monitor.config import ModelConfig
from monitor.config.alerts import AlertsConfig
from monitor.demo import simulate
from monitor.pipeline.ingest import ingest
from monitor.pipeline.models import store_problems
from monitor.pipeline.run import run_window
from monitor.sql.queries import Query
from tests.conftest import START
from tests.monitor.stores.test_bigquery import _store, cfg  # noqa: F401 - the fixture


def test_ingest_check_and_volume_on_bigquery(cfg: ModelConfig, bq_client: Any, bq_dataset: str,  # noqa: F811
                                             tmp_path: Path) -> None:
    bq = _store(bq_client, bq_dataset, cfg)
    bq.init()
    bq.insert_frame(cfg.reference_table, simulate.reference(2000))
    logs, labels = simulate.traffic(1, 300, START, scenario="none")
    logs.to_csv(tmp_path / "p.csv", index=False)
    first = ingest(bq, cfg, "predictions", tmp_path / "p.csv")
    again = ingest(bq, cfg, "predictions", tmp_path / "p.csv")
    assert (first.rows_loaded, again.rows_loaded, again.duplicates) == (300, 0, 300)
    table = bq.table(cfg.predictions.table)
    assert bq.query(Query(f"SELECT COUNT(*) AS n FROM {table} WHERE ts >= TIMESTAMP '2000-01-01'"))[0]["n"] == 300
    labels.iloc[:50].to_csv(tmp_path / "l.csv", index=False)
    assert ingest(bq, cfg, "labels", tmp_path / "l.csv").rows_loaded == 50
    relabel = ingest(bq, cfg, "labels", tmp_path / "l.csv")
    assert (relabel.rows_loaded, relabel.duplicates) == (0, 50)
    assert "label for an unknown request id (kept)" not in relabel.warnings
    assert store_problems(cfg, bq) == []
    raw = cfg.model_dump(by_alias=True)
    raw["features"][5]["name"] = "fz_maen"
    bad = ModelConfig.model_validate({**raw, "prediction": {**raw["prediction"], "probability": "prob"},
                                      "labels": {**raw["labels"], "join_key": "req_id"}})
    assert [p.field for p in store_problems(bad, bq)] == ["features.5 (fz_maen)", "prediction.probability",
                                                          "labels.join_key"]
    empty = run_window(cfg, bq, START + timedelta(days=3))  # nothing was logged on day 2
    assert empty.rows == 0
    assert evaluate("volume", AlertsConfig().volume, empty)["dataset"].level == "critical"
