"""Bad input is counted by reason and reported, never dropped silently or crashing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from monitor.demo import simulate
from monitor.errors import IngestError
from monitor.pipeline.ingest import ingest
from monitor.pipeline.run import run_window
from monitor.sql.queries import Query
from monitor.stores.duckdb import DuckDBStore


def _bad_csv(path: Path) -> Path:
    logs, _ = simulate.traffic(1, 400, datetime(2026, 11, 16), scenario="none")
    frame = logs.drop(columns=["tz_mean"])  # a feature column missing from the file
    frame["ts"] = frame["ts"].astype(str)
    frame["fz_mean"] = frame["fz_mean"].astype(object)
    frame.loc[0:2, "ts"] = ""  # missing timestamps
    frame.loc[3, "ts"] = "not a time"
    frame.loc[4:7, "fz_mean"] = "heavy"  # strings in a numeric column
    frame.loc[8:9, "fz_mean"] = "nan"  # NaN is data
    frame.loc[10, "fz_mean"] = "inf"  # so is inf
    frame.loc[11:30, "tire_type"] = "R22-unknown"  # an unseen category is data
    frame.to_csv(path, index=False)
    return path


def test_bad_rows_are_counted_by_reason_and_the_run_reports_them(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.insert_frame(cfg.reference_table, simulate.reference(3000))
    report = ingest(store, cfg, "predictions", _bad_csv(tmp_path / "bad.csv"))
    assert report.rows_read == 400
    assert dict(report.rejected) == {"missing timestamp": 3, "unparseable timestamp": 1, "wrong type in fz_mean": 4}
    assert report.rows_loaded == 392
    assert report.warnings["column missing: tz_mean"] == 392  # every loaded row: the column is NULL
    # pandas hands NaN to DuckDB as NULL; both count as nulls in the profile.
    stored = store.query(Query("SELECT count(*) AS n, count(*) FILTER (WHERE fz_mean IS NULL OR isnan(fz_mean)) AS nan, "
                               "count(*) FILTER (WHERE isinf(fz_mean)) AS inf FROM predictions"))[0]
    assert stored == {"n": 392, "nan": 2, "inf": 1}
    s = run_window(cfg, store, datetime(2026, 11, 17))
    assert s.rows == 392
    assert s.rows_rejected == 4  # the rows with a timestamp in this window; the 4 without one are in the ingest report
    dq = s.data_quality
    assert dq["tz_mean"].null_rate == 1.0
    assert dq["fz_mean"].null_rate == pytest.approx(2 / 392)
    assert dq["fz_mean"].infinite == 1
    assert dq["tire_type"].unseen_categories == 20 and dq["tire_type"].unseen_values == ["R22-unknown"]
    assert s.quality is not None
    problems = {(c["check"], c["subject"]) for c in s.quality["checks"] if c["status"] == "problem"}
    assert problems == {("null_rate", "tz_mean"), ("unseen_rate", "tire_type")}
    tz = next(f for f in s.features if f.name == "tz_mean")
    assert tz.status == "insufficient_data" and not tz.drifted


def test_labels_file_problems_are_counted_and_the_rest_kept(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = DuckDBStore(tmp_path / "s.duckdb")
    logs, _ = simulate.traffic(1, 50, datetime(2026, 11, 16), scenario="none")
    store.insert_frame("predictions", logs)
    ids = list(logs["request_id"][:10])
    rows = ["request_id,label"] + [f"{i},1" for i in ids]
    rows += [f"{ids[0]},0", f"{ids[1]},False"]  # duplicates: the last one wins
    rows += ["ghost-1,1", "ghost-2,0"]  # unknown request ids: kept, counted
    rows += [f"{ids[2]},maybe", f"{ids[3]},2"]  # not 0/1: rejected
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    report = ingest(store, cfg, "labels", tmp_path / "labels.csv")
    assert dict(report.rejected) == {"label not 0/1": 2}
    assert report.warnings["duplicate label (last one wins)"] == 2
    assert report.warnings["label for an unknown request id (kept)"] == 2
    got = {r["request_id"]: r["label"] for r in store.query(Query("SELECT request_id, label FROM labels"))}
    assert len(got) == 12 and got[ids[0]] == 0 and got[ids[1]] == 0 and got[ids[2]] == 1


def test_the_real_label_file_of_the_project_loads(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = DuckDBStore(tmp_path / "s.duckdb")
    real = Path(__file__).resolve().parents[3] / "monitor" / "demo" / "data" / "FT_dataset_labels.csv"
    (tmp_path / "l.csv").write_text(real.read_text().replace("ID,LABEL", "request_id,label"))
    report = ingest(store, cfg, "labels", tmp_path / "l.csv")
    assert report.rows_loaded == 100 and report.rows_rejected == 0
    assert store.query(Query("SELECT sum(1 - label) AS defects FROM labels"))[0]["defects"] == 18


def test_unreadable_input_is_a_clear_error(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = DuckDBStore(tmp_path / "s.duckdb")
    with pytest.raises(IngestError, match="no such file"):
        ingest(store, cfg, "predictions", tmp_path / "missing.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(IngestError, match="only .csv and .parquet"):
        ingest(store, cfg, "predictions", tmp_path / "x.json")
