"""Late labels end to end: a window's labels arrive at 30%, 80%, then 100% over three later runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.api import wiring
from monitor.config import load_model_config
from monitor.demo import simulate
from monitor.pipeline.labels import labelled_counts, rescore_changed
from monitor.pipeline.run import run_window
from monitor.schema.summary import RunSummary
from monitor.stores.duckdb import DuckDBStore
from reports.pages import run_page
from tests.conftest import START, write_config

DRIFT_DAY = 3  # concept_drift switches on at day 3: the defect relation changes, the inputs do not


@pytest.fixture
def drifting(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = write_config(tmp_path, report="{evidently: false}", window="{length: 24h, min_rows: 200}")
    path.write_text(path.read_text().replace("    for_runs: 2\n    of_last: 3\n", "    for_runs: 1\n"))
    cfg = load_model_config(path)
    store = DuckDBStore(cfg.resolve(cfg.store.path))
    store.insert_frame(cfg.reference_table, simulate.reference(4000))
    logs, labels = simulate.traffic(7, 600, START, scenario="concept_drift")
    store.insert_frame("predictions", logs)
    window = logs["ts"].between(START + timedelta(days=DRIFT_DAY), START + timedelta(days=DRIFT_DAY + 1),
                                inclusive="left")
    day = labels[window.to_numpy()].reset_index(drop=True)
    yield cfg, store, day
    store.close()
    wiring._notifiers.clear()


def _performance_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("[") and "performance" in line]


def test_a_drop_found_by_a_refresh_alerts_once_naming_the_window(drifting, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg, store, day = drifting
    hook = wiring.alert_hook(cfg, store)
    at = START + timedelta(days=DRIFT_DAY + 1)
    own = run_window(cfg, store, at, alert_hook=hook)  # the window's own run: no labels yet, anywhere
    assert own.performance is None
    sent, listed = [], []
    for k, share in enumerate((0.3, 0.8, 1.0), start=1):
        store.upsert_labels("labels", day.iloc[: int(share * len(day))], "request_id")
        later = run_window(cfg, store, at + timedelta(days=k), alert_hook=hook)
        listed.append([a for a in later.alerts if a.rule == "performance" and "recall_0" in a.message])
        sent.append([line for line in _performance_lines(capsys.readouterr().out) if "recall_0" in line])
    assert [len(s) for s in sent] == [0, 1, 0]  # paged once, at the run where 80% of the labels were in
    assert [len(a) for a in listed] == [0, 1, 0]  # a run lists what its refresh found that is news
    message = listed[1][0].message
    assert message == ("performance: recall_0 (important class) for the window of 19 Nov, 80% labelled "
                       "(provisional): 0.23 [0.158, 0.322], reference 0.578")
    assert listed[1][0].severity == "critical"
    assert sent[1][0].startswith("[CRITICAL] Driftline CRITICAL wheel-assembly: performance: recall_0")

    # A retried run (same moment, same window) and a re-run of the window itself send nothing more.
    run_window(cfg, store, at + timedelta(days=3), alert_hook=hook)
    again = run_window(cfg, store, at, alert_hook=hook)
    assert not _performance_lines(capsys.readouterr().out)
    assert again.run_id == own.run_id and again.performance["status"] == "final"  # type: ignore[index]
    assert message in [a["message"] for a in again.extra["late_alerts"]]
    assert again.features == own.features and again.alerts == own.alerts  # drift verdicts, sent alerts: as they were

    # The window's page shows how the value changed as the labels arrived.
    stored = RunSummary.model_validate_json(store.get_run(own.run_id).summary_json)  # type: ignore[union-attr]
    assert [h["coverage"]["fraction"] for h in stored.performance_history] == pytest.approx([0.3, 0.8], abs=0.01)
    page = run_page(stored, [], evidently_url=None)
    assert page.count("<td>provisional</td>") == 1 and "<td>final</td>" in page


def test_rerunning_a_stored_window_rescores_it_after_its_labels_land(drifting) -> None:  # type: ignore[no-untyped-def]
    cfg, store, day = drifting
    at = START + timedelta(days=DRIFT_DAY + 1)
    first = run_window(cfg, store, at)
    store.upsert_labels("labels", day, "request_id")
    again = run_window(cfg, store, at)
    assert first.performance is None
    assert again.performance["status"] == "final" and again.performance["metrics"]["recall_0"]["verdict"] == "drop"  # type: ignore[index]
    assert again.features == first.features


def test_labels_delay_makes_a_partly_labelled_window_final(drifting, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg, store, day = drifting
    cfg = cfg.model_copy(update={"labels": cfg.labels.model_copy(update={"delay": timedelta(days=3)})})  # type: ignore[union-attr]
    at = START + timedelta(days=DRIFT_DAY + 1)
    run_window(cfg, store, at)
    store.upsert_labels("labels", day.iloc[: int(0.8 * len(day))], "request_id")
    early = rescore_changed(cfg, store, now=at + timedelta(days=1))
    assert [s.performance["status"] for s in early] == ["provisional"]  # type: ignore[index]
    assert rescore_changed(cfg, store, now=at + timedelta(days=2)) == []  # nothing moved: not re-scored
    late = rescore_changed(cfg, store, now=at + timedelta(days=3))  # the delay has passed
    assert [s.performance["status"] for s in late] == ["final"]  # type: ignore[index]
    assert rescore_changed(cfg, store, now=at + timedelta(days=9)) == []  # final stays final


def test_the_cheap_count_matches_the_scored_coverage(drifting) -> None:  # type: ignore[no-untyped-def]
    cfg, store, day = drifting
    store.upsert_labels("labels", day.iloc[:123], "request_id")
    windows = [(START + timedelta(days=d), START + timedelta(days=d + 1)) for d in range(DRIFT_DAY, DRIFT_DAY + 2)]
    assert labelled_counts(cfg, store, windows) == [123, 0]
