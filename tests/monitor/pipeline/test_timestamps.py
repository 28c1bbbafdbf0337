"""Timestamps are never guessed: ISO 8601, epoch by magnitude, an explicit format, or a counted refusal."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from monitor.config import ModelConfig
from monitor.demo import simulate
from monitor.pipeline import timestamps
from monitor.pipeline.ingest import ingest
from monitor.sql.queries import Query
from monitor.stores.duckdb import DuckDBStore

NOON = datetime(2025, 11, 16, 12)
EPOCH_S = int((NOON - datetime(1970, 1, 1)).total_seconds())


@pytest.mark.parametrize("text", ["2025-11-16T12:00:00Z", "2025-11-16 12:00:00", "2025-11-16T14:00:00+02:00",
                                  "2025-11-16T07:00:00-05:00", str(EPOCH_S), str(EPOCH_S * 1000),
                                  str(EPOCH_S * 1_000_000), f"{EPOCH_S}.0"])
def test_iso_with_or_without_offset_and_epoch_by_magnitude(text: str) -> None:
    values, refused = timestamps.parse(pd.Series([text]), None, {""})
    assert values[0] == NOON and not any(m.any() for m in refused.values())


def test_day_month_is_refused_when_ambiguous_and_read_when_the_format_says_so() -> None:
    col = pd.Series(["05/10/2026", "13/10/2026", "2026-10-05", "", "soon"])
    values, refused = timestamps.parse(col, None, {""})
    assert {k: list(m[m].index) for k, m in refused.items()} == {
        timestamps.MISSING: [3], timestamps.AMBIGUOUS: [0], timestamps.UNPARSEABLE: [1, 4]}
    assert values[2] == datetime(2026, 10, 5)
    values, refused = timestamps.parse(col.iloc[:2], "%d/%m/%Y", {""})
    assert list(values) == [datetime(2026, 10, 5), datetime(2026, 10, 13)]


def test_an_explicit_epoch_unit_reads_every_number_in_it() -> None:
    values, refused = timestamps.parse(pd.Series([EPOCH_S * 1000, 5]), "epoch_ms", {""})
    assert list(values) == [NOON, datetime(1970, 1, 1, 0, 0, 0, 5000)]


def test_epoch_millisecond_files_load_and_day_month_files_are_refused_with_count_and_example(
        cfg: ModelConfig, tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    logs, _ = simulate.traffic(1, 200, datetime(2026, 11, 16), scenario="none")
    ms = logs.assign(ts=(logs["ts"] - datetime(1970, 1, 1)) // pd.Timedelta(milliseconds=1))
    ms.to_csv(tmp_path / "ms.csv", index=False)
    report = ingest(store, cfg, "predictions", tmp_path / "ms.csv")
    assert report.rows_loaded == 200 and report.failure(0.1) is None
    first = store.query(Query("SELECT min(ts) AS t FROM predictions"))[0]["t"]
    assert abs(first - logs["ts"].min()) < pd.Timedelta(milliseconds=1)
    dm = logs.assign(request_id="dm-" + logs["request_id"], ts=["05/10/2026"] * 150 + ["13/10/2026"] * 50)
    dm.to_csv(tmp_path / "dm.csv", index=False)
    refused = ingest(store, cfg, "predictions", tmp_path / "dm.csv")
    assert dict(refused.rejected) == {timestamps.AMBIGUOUS: 150, timestamps.UNPARSEABLE: 50}
    assert refused.examples[timestamps.AMBIGUOUS] == "05/10/2026"
    assert refused.failure(0.1) == (
        "dm.csv: 200 of 200 rows rejected (every row rejected); most: ambiguous day/month timestamp "
        "(150 e.g. '05/10/2026'); set predictions.timestamp_format, e.g. '%d/%m/%Y %H:%M'")
    told = cfg.model_copy(update={"predictions": cfg.predictions.model_copy(update={"timestamp_format": "%d/%m/%Y"})})
    assert ingest(store, told, "predictions", tmp_path / "dm.csv").rows_loaded == 200
