"""The reference follows its data: a changed table derives specs, profile and reference performance again, once."""

from __future__ import annotations

from datetime import timedelta

from monitor.demo import simulate
from monitor.pipeline import performance as performance_run
from monitor.pipeline.reference import ensure_reference
from monitor.pipeline.run import run_window
from reports import pages
from tests.conftest import START


def _keys(store, prefix: str) -> int:  # type: ignore[no-untyped-def]
    return int(store._con.execute("SELECT count(*) FROM driftline_state WHERE key LIKE ?", [prefix + "%"])
               .fetchone()[0])


def test_appending_to_the_reference_derives_it_again_once(loaded) -> None:  # type: ignore[no-untyped-def]
    cfg, store = loaded
    first = ensure_reference(cfg, store)
    assert ensure_reference(cfg, store).specs == first.specs and _keys(store, "reference:") == 1
    perf_before = performance_run.reference_state(cfg, store, first.version)
    # The audit's finding: the cache key hashed only the config, so this append changed nothing.
    shifted = simulate.reference(4000, seed=7)
    shifted["fz_mean"] = shifted["fz_mean"] + 5.0
    store.insert_frame(cfg.reference_table, shifted)
    second = ensure_reference(cfg, store)
    assert second.version != first.version
    assert second.profile.rows == 8000 and second.specs["fz_mean"] != first.specs["fz_mean"]
    assert second.changed_at is not None
    assert ensure_reference(cfg, store).version == second.version and _keys(store, "reference:") == 2  # once
    perf_after = performance_run.reference_state(cfg, store, second.version)
    assert perf_before is not None and perf_after is not None
    assert _keys(store, "reference-performance:") == 2


def test_replacing_the_reference_with_as_many_rows_is_seen_too(loaded) -> None:  # type: ignore[no-untyped-def]
    cfg, store = loaded
    first = ensure_reference(cfg, store)
    store._con.execute(f"DELETE FROM {cfg.reference_table}")
    store.insert_frame(cfg.reference_table, simulate.reference(4000, seed=11))
    assert ensure_reference(cfg, store).version != first.version


def test_the_run_page_says_when_the_reference_last_changed(loaded) -> None:  # type: ignore[no-untyped-def]
    cfg, store = loaded
    s = run_window(cfg, store, START + timedelta(days=2))
    assert s.extra["reference_changed_at"]
    html = pages.run_page(s, [], evidently_url=None)
    assert "reference last changed" in html and str(s.extra["reference_changed_at"]) in html
