"""Ingest is atomic per file: a killed ingest leaves nothing half-loaded and a re-run loads what is missing, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from monitor.demo import simulate
from monitor.errors import IngestError
from monitor.pipeline.ingest import ingest
from monitor.sql.bookkeeping import REJECTS_TABLE
from monitor.sql.queries import Query
from monitor.stores.duckdb import DuckDBStore

ROWS, CHUNK = 6_000, 1_000


def _file(path: Path) -> tuple[Path, int, int]:
    """A CSV of ROWS rows: 200 repeat an earlier request id, 50 have no timestamp; (path, distinct ids, rejects)."""
    logs, _ = simulate.traffic(1, ROWS - 200, datetime(2026, 11, 16), scenario="none")
    frame = pd.concat([logs, logs.iloc[100:300]], ignore_index=True)  # ids repeated in later chunks
    frame["ts"] = frame["ts"].astype(str)
    frame.loc[frame.index[1000:1050], "ts"] = ""
    frame.to_csv(path, index=False)
    distinct_loadable = frame.loc[frame["ts"] != "", "request_id"].nunique()
    return path, int(distinct_loadable), 50


def _stored(store: DuckDBStore) -> tuple[int, int, int]:
    if not store.exists("predictions"):
        return 0, 0, 0
    row = store.query(Query("SELECT count(*) AS n, count(DISTINCT request_id) AS d FROM predictions"))[0]
    rejects = store.query(Query(f"SELECT COALESCE(SUM(rows), 0) AS n FROM {REJECTS_TABLE}"))[0]["n"] \
        if store.exists(REJECTS_TABLE) else 0
    return int(row["n"]), int(row["d"]), int(rejects)


def test_sigkill_mid_file_then_rerun_loses_and_doubles_nothing(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, distinct, rejected = _file(tmp_path / "logs.csv")
    db = tmp_path / "s.duckdb"
    # The ingest's per-chunk progress callback is its fault point: the child kills itself after chunk 3 of 6.
    script = textwrap.dedent(f"""
        import os, signal
        from monitor.config import load_model_config
        from monitor.pipeline import ingest as ingest_module
        from monitor.stores.duckdb import DuckDBStore
        ingest_module._CHUNK = {CHUNK}
        cfg = load_model_config({str(cfg.resolve('wheel-assembly.yaml'))!r})
        seen = []
        def fault(n):
            seen.append(n)
            if len(seen) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
        ingest_module.ingest(DuckDBStore({str(db)!r}), cfg, "predictions", {str(path)!r}, progress=fault)
    """)
    child = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[3], timeout=120,
                           capture_output=True)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    store = DuckDBStore(db)
    assert _stored(store) == (0, 0, 0)  # nothing half-loaded: no rows, no rejects
    report = ingest(store, cfg, "predictions", path)
    assert report.rows_loaded + report.rows_rejected + report.duplicates == report.rows_read == ROWS
    assert _stored(store) == (distinct, distinct, rejected)  # rows = distinct ids; rejects recorded once
    again = ingest(store, cfg, "predictions", path)  # a re-run loads nothing, and does not double the rejects
    assert again.rows_loaded == 0 and again.duplicates == ROWS - rejected
    assert _stored(store) == (distinct, distinct, rejected)
    store.close()


def test_a_rerun_after_a_partial_load_adds_only_what_is_missing(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, distinct, _ = _file(tmp_path / "logs.csv")
    head = tmp_path / "head.csv"
    pd.read_csv(path, dtype=str, keep_default_na=False).iloc[:2000].to_csv(head, index=False)
    store = DuckDBStore(tmp_path / "s.duckdb")
    first = ingest(store, cfg, "predictions", head)
    report = ingest(store, cfg, "predictions", path)
    assert report.rows_loaded == distinct - first.rows_loaded
    assert report.rows_loaded + report.rows_rejected + report.duplicates == ROWS
    assert _stored(store)[:2] == (distinct, distinct)


def test_a_reference_file_is_loaded_once(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ref.parquet"
    simulate.reference(500).to_parquet(path, index=False)
    store = DuckDBStore(tmp_path / "s.duckdb")
    assert ingest(store, cfg, "reference", path).rows_loaded == 500
    again = ingest(store, cfg, "reference", path)
    assert again.rows_loaded == 0 and again.duplicates == 500
    assert store.query(Query(f"SELECT count(*) AS n FROM {cfg.reference_table}"))[0]["n"] == 500


def test_epoch_seconds_load_alike_from_parquet_and_csv(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    logs, _ = simulate.traffic(1, 20, datetime(2026, 11, 16), scenario="none")
    logs["ts"] = logs["ts"].astype("int64") // 10**9  # integer seconds since 1970, not 1970 itself
    logs.to_parquet(tmp_path / "e.parquet", index=False)
    logs.to_csv(tmp_path / "e.csv", index=False)
    for name in ("e.parquet", "e.csv"):
        store = DuckDBStore(":memory:")
        assert ingest(store, cfg, "predictions", tmp_path / name).rows_loaded == 20
        first = store.query(Query("SELECT min(ts) AS t FROM predictions"))[0]["t"]
        assert first.date() == datetime(2026, 11, 16).date(), name


@pytest.mark.parametrize(("name", "data", "says"), [
    ("empty.csv", b"", r"empty \(0 bytes\)"), ("empty.parquet", b"", r"empty \(0 bytes\)"),
    ("bin.csv", bytes(range(256)) * 8, "not a text CSV"), ("bin.parquet", os.urandom(2048), "not a readable Parquet"),
])
def test_an_empty_or_binary_file_is_one_clear_error(cfg, tmp_path: Path, name: str, data: bytes, says: str) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / name).write_bytes(data)
    with pytest.raises(IngestError, match=says) as err:
        ingest(DuckDBStore(":memory:"), cfg, "predictions", tmp_path / name)
    assert "\n" not in str(err.value)


def test_the_cli_says_it_in_one_line_without_a_traceback(config_dir: Path) -> None:
    (config_dir / "bin.csv").write_bytes(bytes(range(256)) * 8)
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "ingest", "predictions", str(config_dir / "bin.csv"),
                          "--config-dir", str(config_dir)], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[3])
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "not a text CSV" in out.stderr
