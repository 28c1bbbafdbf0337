"""The performance counts read the label however it is encoded, as the label's profile does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.sql.performance import performance_query
from monitor.sql.profiler import label_expr
from monitor.sql.queries import DUCKDB, Query, Source
from monitor.stores.duckdb import DuckDBStore

ENCODINGS = {
    "int": lambda y: y,
    "float": lambda y: y.astype(float),
    "text": lambda y: y.astype(str),
    "float_text": lambda y: np.where(y == 1, "1.0", "0.0"),
    "bool": lambda y: y.astype(bool),
    "true_false": lambda y: np.where(y == 1, "true", "false"),
    "padded_upper": lambda y: np.where(y == 1, " TRUE ", "False"),
}


def _counts(store: DuckDBStore, table: str) -> list[dict]:
    rows = store.query(performance_query(DUCKDB, Source(table=store.table(table)), "p", "y", threshold=0.5,
                                         bins=10, positive_class=1))
    return [{k: (round(v, 9) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_every_label_encoding_gives_the_integer_labels_counts(tmp_path: Path, encoding: str) -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(size=2_000)
    y = (rng.uniform(size=2_000) < p).astype(int)
    store = DuckDBStore(tmp_path / "l.duckdb")
    store.insert_frame("ints", pd.DataFrame({"p": p, "y": y}))
    store.insert_frame("coded", pd.DataFrame({"p": p, "y": ENCODINGS[encoding](y)}))
    want = _counts(store, "ints")
    assert sum(r["pos"] for r in want) == int(y.sum())
    assert _counts(store, "coded") == want
    # ... and the label's profile sees the same two codes.
    codes = store.query_frame(Query(f"SELECT DISTINCT {label_expr('y')} AS c FROM {store.table('coded')}"))
    assert sorted(codes["c"]) == ["0", "1"]


def test_a_label_that_is_no_class_counts_as_unlabelled_not_as_an_error(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "l.duckdb")
    store.insert_frame("odd", pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.6, 0.4], "y": ["true", "n/a", "0", "0.7", "1.5"]}))
    rows = _counts(store, "odd")
    assert sum(r["n"] for r in rows) == 5
    assert sum(r["pos"] + r["neg"] for r in rows) == 2  # a score or half a class is no label, never rounded
