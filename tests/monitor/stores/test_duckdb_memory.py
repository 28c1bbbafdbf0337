"""DuckDB's memory at defaults: a lean limit that follows the machine (or container) and the model's width,
and a label join that outgrows it spills to the temp directory instead of failing."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.api import wiring as service
from monitor.config import defaults, load_model_config
from monitor.errors import StoreError
from monitor.schema.profile import CategoricalSpec
from monitor.sql import profiler as profiling
from monitor.sql.queries import Source
from monitor.stores.duckdb import DuckDBStore, default_memory_limit, machine_memory_bytes
from monitor.stores.duckdb import store as duckdb_store
from tests.conftest import write_config


def _mb(limit: str) -> float:
    return float(limit.removesuffix("MB"))


def test_the_default_limit_is_what_a_run_needs_within_the_machines_share() -> None:
    total = machine_memory_bytes()
    assert total is not None and total > 0
    ceiling = total / 2**20 * defaults.DUCKDB_MEMORY_SHARE
    assert _mb(default_memory_limit()) == min(defaults.DUCKDB_BASE_MEMORY_MB, int(ceiling))
    # a scan pins a block of each column's data and validity in every thread: wider models, more threads, more
    narrow, wide, wide_threads = (_mb(default_memory_limit(c, t)) for c, t in ((21, 2), (208, 2), (208, 8)))
    assert narrow < wide < wide_threads <= ceiling + 1


def test_the_default_limit_follows_a_container_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cgroup = tmp_path / "memory.max"
    monkeypatch.setattr(duckdb_store, "_CGROUP_LIMITS", (str(cgroup),))
    cgroup.write_text(f"{512 * 2**20}\n")  # a 512 MB container: at most half of it
    assert machine_memory_bytes() == 512 * 2**20
    assert default_memory_limit(208, 2) == "256MB"
    assert default_memory_limit(0, 1) == f"{defaults.DUCKDB_BASE_MEMORY_MB}MB"  # under the ceiling: the need
    cgroup.write_text(f"{96 * 2**20}\n")  # tinier than any need: the floor
    assert default_memory_limit(208, 2) == f"{defaults.DUCKDB_MIN_MEMORY_MB}MB"
    cgroup.write_text("max\n")  # no container limit: the machine's memory
    total = machine_memory_bytes()
    assert total is not None and total > 512 * 2**20


def test_a_store_opened_at_defaults_takes_the_limit_of_its_widest_model(tmp_path: Path) -> None:
    write_config(tmp_path)
    cfg = load_model_config(tmp_path / "wheel-assembly.yaml")
    service.close_stores()
    try:
        store = service.open_store(cfg)
        assert isinstance(store, DuckDBStore)
        threads = int(store.query(profiling.Query("SELECT current_setting('threads') AS t"))[0]["t"])
        want = default_memory_limit(len(cfg.features) + defaults.DUCKDB_SCAN_EXTRA_COLUMNS, threads)
        assert store.memory_limit == want
        got = store.query(profiling.Query("SELECT current_setting('memory_limit') AS m"))[0]["m"]
        assert abs(float(got.split()[0]) * (1024 if "GiB" in got else 1) - _mb(want) / 1.048576) < 1  # MiB
    finally:
        service.close_stores()


def _labelled_store(path: Path, rows: int, **kwargs: object) -> DuckDBStore:
    store = DuckDBStore(path, **kwargs)  # type: ignore[arg-type]
    ids = f"SELECT i, 'request-' || i AS request_id FROM range({rows}) t(i)"
    store.query(profiling.Query(f"CREATE TABLE predictions AS SELECT request_id FROM ({ids})"))
    store.query(profiling.Query(f"CREATE TABLE labels AS SELECT request_id, (i % 3 = 0)::INT AS label FROM ({ids}) "
                                "WHERE i % 10 <> 0"))
    return store


def _label_profile(store: DuckDBStore) -> tuple[int, ...]:
    src = Source(table='"predictions"', labels_table='"labels"', join_key="request_id", label_column="label")
    spec = CategoricalSpec(name=profiling.LABEL, expr=profiling.label_expr("__label"), top=("0", "1"),
                           known=("0", "1"))
    got = profiling.profile(store, src, [spec]).features[profiling.LABEL]
    return (*got.counts, got.nulls)  # type: ignore[union-attr]


def test_a_label_join_larger_than_the_limit_spills_and_gives_the_same_counts(tmp_path: Path) -> None:
    rows = 1_200_000  # the hash table of its request ids outgrows 48 MB: more than the limit below
    want = (720_000, 360_000, 120_000)  # label 0, label 1, no label
    spilled = _labelled_store(tmp_path / "a.duckdb", rows, memory_limit="40MB",
                              temp_directory=tmp_path / "spill")
    spilled.query(profiling.Query("SET threads = 1"))
    assert _label_profile(spilled) == want
    spilled.close()
    # The same join with nowhere to spill runs out of memory, with an error that names the setting.
    stuck = _labelled_store(tmp_path / "b.duckdb", rows, memory_limit="40MB")
    stuck.query(profiling.Query("SET threads = 1"))
    stuck.query(profiling.Query("SET temp_directory = ''"))
    with pytest.raises(StoreError, match="store.memory_limit"):
        _label_profile(stuck)
    stuck.close()
