"""Fuzzing ingest: whatever a CSV or Parquet file holds, every row is loaded once or counted under a reason."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from monitor.config import load_model_config
from monitor.pipeline.ingest import ingest
from monitor.sql.queries import Query
from monitor.stores.duckdb import DuckDBStore

CONFIG = """model: fuzz
features: [{name: x, kind: numerical}, {name: c, kind: categorical}, {name: xy, kind: numerical, expr: "x + y"}]
prediction: {probability: p, class: k}
labels: null
"""
garbage = st.one_of(st.text(max_size=8), st.sampled_from(["", "nan", "NULL", "inf", "-inf", "1e400", " ", "None"]))
timestamp = st.one_of(
    garbage,
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.strftime("%d/%m/%Y")),
    st.integers(min_value=-10**18, max_value=10**18).map(str),
    st.sampled_from(["2026-11-16T10:00:00Z", "2026-11-16 10:00:00+02:00", "1763287200", "1763287200000"]),
)
number = st.one_of(garbage, st.floats(allow_nan=True, allow_infinity=True).map(str), st.integers().map(str))
COLUMNS = ["request_id", "ts", "x", "y", "c", "p", "k", "model_version"]
row = st.fixed_dictionaries({
    "request_id": st.one_of(st.sampled_from(["a", "b", "c", "", " "]), st.text(max_size=4)),
    "ts": timestamp, "x": number, "y": number, "c": garbage, "p": number, "k": number,
    "model_version": garbage,
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(rows=st.lists(row, max_size=25), drop=st.sets(st.sampled_from(["ts", "request_id", "x", "c", "model_version"]),
                                                     max_size=2), parquet=st.booleans())
def test_every_row_is_loaded_once_or_counted(rows: list[dict[str, str]], drop: set[str], parquet: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "fuzz.yaml").write_text(CONFIG)
        cfg = load_model_config(Path(tmp) / "fuzz.yaml")
        frame = pd.DataFrame(rows, columns=COLUMNS)
        frame = frame.drop(columns=sorted(drop))
        path = Path(tmp) / ("f.parquet" if parquet else "f.csv")
        frame.to_parquet(path) if parquet else frame.to_csv(path, index=False, quoting=csv.QUOTE_ALL)
        store = DuckDBStore(":memory:")
        loaded = 0
        for _ in range(2):  # the same file twice: nothing is stored twice
            report = ingest(store, cfg, "predictions", path)
            assert report.rows_read == len(frame)
            assert report.rows_loaded + report.rows_rejected + report.duplicates == len(frame)
            loaded += report.rows_loaded
        if loaded:
            stored = store.query(Query("SELECT count(*) AS n, count(DISTINCT request_id) AS ids FROM predictions"))[0]
            assert stored == {"n": loaded, "ids": loaded}
        store.close()
