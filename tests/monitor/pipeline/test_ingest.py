"""Bad input is counted by reason and reported, never dropped silently or crashing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
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


def _logs(n: int = 300, day: int = 0) -> pd.DataFrame:
    logs, _ = simulate.traffic(1, n, datetime(2026, 11, 16 + day), scenario="none")
    return logs.assign(request_id=f"d{day}-" + logs["request_id"])


def test_reingesting_a_file_adds_nothing_and_counts_the_duplicates(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = DuckDBStore(tmp_path / "s.duckdb")
    logs = _logs()
    logs = pd.concat([logs, logs.iloc[:5]])  # five ids twice within the file
    logs.to_csv(tmp_path / "p.csv", index=False)
    first = ingest(store, cfg, "predictions", tmp_path / "p.csv")
    assert (first.rows_read, first.rows_loaded, first.duplicates) == (305, 300, 5)
    again = ingest(store, cfg, "predictions", tmp_path / "p.csv")
    assert (again.rows_loaded, again.duplicates, again.rows_rejected) == (0, 305, 0)
    assert again.failure(0.1) is None  # duplicates are not a failure: nothing was lost
    rows = store.query(Query("SELECT count(*) AS n, count(DISTINCT request_id) AS ids FROM predictions"))[0]
    assert rows == {"n": 300, "ids": 300}


def test_relabelling_the_same_label_changes_nothing_and_a_new_value_wins(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.insert_frame("predictions", _logs(50))
    ids = list(_logs(50)["request_id"][:4])
    (tmp_path / "l.csv").write_text("request_id,label\n" + "".join(f"{i},1\n" for i in ids))
    assert ingest(store, cfg, "labels", tmp_path / "l.csv").rows_loaded == 4
    (tmp_path / "l2.csv").write_text("request_id,label\n" + "".join(f"{i},{int(k == 0)}\n" for k, i in enumerate(ids)))
    second = ingest(store, cfg, "labels", tmp_path / "l2.csv")
    assert (second.rows_loaded, second.duplicates) == (3, 1)  # one unchanged; three corrected to 0
    got = dict(r.values() for r in store.query(Query("SELECT request_id, label FROM labels")))
    assert got == {ids[0]: 1, ids[1]: 0, ids[2]: 0, ids[3]: 0}


def test_label_warnings_count_the_file_not_the_table(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.insert_frame("predictions", _logs(50))
    (tmp_path / "a.csv").write_text("request_id,label\n" + "".join(f"ghost-{i},1\n" for i in range(30)))
    assert ingest(store, cfg, "labels", tmp_path / "a.csv").warnings["label for an unknown request id (kept)"] == 30
    ids = list(_logs(50)["request_id"][:10])
    (tmp_path / "b.csv").write_text("request_id,label\n" + "".join(f"{i},0\n" for i in ids) + "ghost-x,1\n")
    report = ingest(store, cfg, "labels", tmp_path / "b.csv")
    assert report.warnings["label for an unknown request id (kept)"] == 1  # not 31: the table's earlier ghosts


def test_a_file_without_the_version_column_does_not_fix_its_type_to_null(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = DuckDBStore(tmp_path / "s.duckdb")
    _logs(100).drop(columns=["model_version"]).to_csv(tmp_path / "a.csv", index=False)
    assert ingest(store, cfg, "predictions", tmp_path / "a.csv").rows_loaded == 100
    _logs(100, day=1).to_csv(tmp_path / "b.csv", index=False)
    later = ingest(store, cfg, "predictions", tmp_path / "b.csv")
    assert later.rows_loaded == 100 and later.rows_rejected == 0
    types = store.columns("predictions")
    assert types["model_version"] == "VARCHAR" and types["tire_type"] == "VARCHAR" and types["request_id"] == "VARCHAR"


def test_a_file_without_a_categorical_or_with_an_extra_column_loads_later_files(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = DuckDBStore(tmp_path / "s.duckdb")
    _logs(100).drop(columns=["tire_type"]).to_parquet(tmp_path / "a.parquet")
    assert ingest(store, cfg, "predictions", tmp_path / "a.parquet").rows_loaded == 100
    b = _logs(100, day=1).assign(debug_blob="x")
    b.to_parquet(tmp_path / "b.parquet")
    later = ingest(store, cfg, "predictions", tmp_path / "b.parquet")
    assert later.rows_loaded == 100
    assert later.warnings["column not in table predictions (not stored): debug_blob"] == 100
    assert store.query(Query("SELECT count(tire_type) AS n FROM predictions"))[0]["n"] == 100


def test_a_labels_file_without_the_join_key_is_rejected_with_its_columns(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = DuckDBStore(tmp_path / "s.duckdb")
    (tmp_path / "l.csv").write_text("id,label\na,1\nb,0\n")
    report = ingest(store, cfg, "labels", tmp_path / "l.csv")
    assert dict(report.rejected) == {"missing required column request_id": 2} and report.rows_loaded == 0
    assert report.failure(0.1) == ("l.csv: 2 of 2 rows rejected (every row rejected); most: missing required "
                                   "column request_id (2 e.g. 'the file has: id, label')")


def test_a_reingested_files_rejected_rows_count_once_in_the_run(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.insert_frame(cfg.reference_table, simulate.reference(3000))
    path = _bad_csv(tmp_path / "bad.csv")
    ingest(store, cfg, "predictions", path)
    again = ingest(store, cfg, "predictions", path)
    assert again.rows_rejected == 8 and again.duplicates == 392  # still told, per file
    assert again.warnings["rejected rows already recorded by an earlier ingest of this file"] == 8
    assert run_window(cfg, store, datetime(2026, 11, 17)).rows_rejected == 4  # as after one ingest
