"""The run: windows, verdicts on the simulated scenario, idempotency, late labels."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from monitor.demo import simulate
from monitor.pipeline.run import run_window, spread_floor
from monitor.pipeline.windows import window_for
from monitor.schema.summary import AlertEntry, RunSummary
from tests.conftest import START

SHIFTED = {"fz_mean", "fz_last", "tz_mean", "tz_last", "fz_range", "tire_type"}


def test_window_is_the_latest_complete_one(cfg) -> None:  # type: ignore[no-untyped-def]
    assert window_for(cfg, datetime(2026, 11, 20, 7, 30)) == (datetime(2026, 11, 19), datetime(2026, 11, 20))
    assert window_for(cfg, datetime(2026, 11, 20)) == (datetime(2026, 11, 19), datetime(2026, 11, 20))
    weekly = cfg.model_copy(update={"window": cfg.window.model_copy(update={"length": "7d", "alignment": "start_of_day"})})
    assert window_for(weekly, datetime(2026, 11, 20, 7, 30)) == (datetime(2026, 11, 13), datetime(2026, 11, 20))
    epoch = cfg.model_copy(update={"window": cfg.window.model_copy(update={"length": "7d"})})
    assert window_for(epoch, datetime(2026, 11, 20, 7, 30))[1].weekday() == 3  # 1970-01-01 was a Thursday


def test_injected_drift_is_flagged_and_untouched_features_are_not(loaded) -> None:  # type: ignore[no-untyped-def]
    cfg, store = loaded
    calm = run_window(cfg, store, START + timedelta(days=2))
    assert not [f.name for f in calm.features if f.drifted]
    assert calm.quality is not None and not [c for c in calm.quality["checks"] if c["status"] == "problem"]
    hit = run_window(cfg, store, START + timedelta(days=5))  # day 5: the new tire batch at full strength
    drifted = {f.name for f in hit.features if f.drifted}
    assert drifted == SHIFTED
    assert hit.prediction_drift is not None and hit.prediction_drift.drifted
    assert hit.data_quality["tire_type"].unseen_values == ["R18-eco"]
    assert 0 < hit.drift_share < 1 and hit.rows == 600
    assert hit.window.start.isoformat() == "2026-11-20T00:00:00+00:00"


def test_the_spread_floor_comes_from_the_feature_then_the_model_and_a_feature_can_switch_it_off(cfg) -> None:  # type: ignore[no-untyped-def]
    first = cfg.features[0]
    assert spread_floor(cfg, None) == spread_floor(cfg, first) == cfg.drift.spread_floor == 0.025
    assert spread_floor(cfg, first.model_copy(update={"spread_floor": 0.05})) == 0.05
    assert spread_floor(cfg, first.model_copy(update={"spread": False, "spread_floor": 0.05})) is None
    off = cfg.model_copy(update={"drift": cfg.drift.model_copy(update={"spread_floor": None})})
    assert spread_floor(off, first) is None


def test_a_second_run_of_a_window_returns_the_stored_result_and_notifies_nothing(loaded) -> None:  # type: ignore[no-untyped-def]
    cfg, store = loaded
    calls: list[str] = []

    def hook(summary: RunSummary, history: list[RunSummary]) -> list[AlertEntry]:
        calls.append(summary.run_id)
        return [AlertEntry(severity="warn", rule="feature_drift", message="x")]

    at = START + timedelta(days=5)
    first = run_window(cfg, store, at, alert_hook=hook)
    second = run_window(cfg, store, at + timedelta(hours=3), alert_hook=hook)  # same window
    assert first.run_id == second.run_id
    assert calls == [first.run_id]
    assert second.model_dump() == first.model_dump()
    assert len(store.list_runs(cfg.model)) == 1


def test_a_small_window_is_insufficient_data_not_a_verdict(cfg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from monitor.stores.duckdb import DuckDBStore

    store = DuckDBStore(tmp_path / "x.duckdb")
    store.insert_frame(cfg.reference_table, simulate.reference(3000))
    logs, _ = simulate.traffic(1, 50, START, scenario="none")
    store.insert_frame("predictions", logs)
    s = run_window(cfg, store, START + timedelta(days=1))
    assert s.status == "insufficient_data"
    assert all(f.status == "insufficient_data" and not f.drifted for f in s.features)


def test_late_labels_make_performance_not_yet_known_then_provisional_then_final(cfg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from monitor.stores.duckdb import DuckDBStore

    store = DuckDBStore(tmp_path / "x.duckdb")
    store.insert_frame(cfg.reference_table, simulate.reference(4000))
    logs, labels = simulate.traffic(5, 400, START, scenario="none")
    store.insert_frame("predictions", logs)
    day0 = labels[logs["ts"] < START + timedelta(days=1)].reset_index(drop=True)
    store.upsert_labels("labels", day0.iloc[:10], "request_id")  # 3% of the window labelled
    first = run_window(cfg, store, START + timedelta(days=1))
    assert first.performance is not None and first.performance["status"] == "not_yet_known"
    assert first.performance["metrics"]["recall_0"]["verdict"] == "not_yet_known"
    assert first.estimated_performance is not None
    store.upsert_labels("labels", day0.iloc[:300], "request_id")  # 75%
    run_window(cfg, store, START + timedelta(days=2))
    mid = RunSummary.model_validate_json(store.get_run(first.run_id).summary_json)  # type: ignore[union-attr]
    assert mid.performance["status"] == "provisional"  # type: ignore[index]
    store.upsert_labels("labels", day0, "request_id")  # all of them
    run_window(cfg, store, START + timedelta(days=3))
    final = RunSummary.model_validate_json(store.get_run(first.run_id).summary_json)  # type: ignore[union-attr]
    assert final.performance["status"] == "final"  # type: ignore[index]
    assert [h["status"] for h in final.performance_history] == ["not_yet_known", "provisional"]
    assert final.performance["coverage"]["fraction"] == 1.0  # type: ignore[index]
    # The SQL confusion counts equal scikit-learn's on the same rows.
    from sklearn.metrics import confusion_matrix

    rows = logs[logs["ts"] < START + timedelta(days=1)].merge(day0, on="request_id")
    tn, _fp, _fn, tp = confusion_matrix(rows["label"], (rows["probability"] >= 0.5).astype(int)).ravel()
    acc = final.performance["metrics"]["accuracy"]["value"]  # type: ignore[index]
    assert abs(acc - (tp + tn) / len(rows)) < 1e-12
    assert isinstance(pd.Timestamp(final.performance["computed_at"]), pd.Timestamp)  # type: ignore[index]


def test_a_correlation_change_is_caught_by_the_domain_classifier_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from monitor.config import load_model_config
    from monitor.stores.duckdb import DuckDBStore

    (tmp_path / "m.yaml").write_text(
        "model: pair\nfeatures: [{name: x, kind: numerical}, {name: y, kind: numerical}]\n"
        "prediction: {probability: p, class: null}\nlabels: null\nreport: {evidently: false, sample_rows: 5000}\n")
    cfg = load_model_config(tmp_path / "m.yaml")
    rng = np.random.default_rng(3)

    def frame(n: int, rho: float, day: int) -> pd.DataFrame:
        x = rng.normal(size=n)
        y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)  # same N(0, 1) marginals
        return pd.DataFrame({"request_id": [f"{day}-{i}" for i in range(n)],
                             "ts": [START + timedelta(days=day, seconds=i) for i in range(n)],
                             "model_name": "pair", "x": x, "y": y, "p": rng.uniform(size=n)})

    store = DuckDBStore(tmp_path / "s.duckdb")
    store.insert_frame(cfg.reference_table, frame(20_000, 0.0, 0))
    store.insert_frame("predictions", pd.concat([frame(20_000, 0.0, 0), frame(20_000, 0.6, 1)]))
    calm = run_window(cfg, store, START + timedelta(days=1))
    hit = run_window(cfg, store, START + timedelta(days=2))
    assert calm.multivariate is not None and not calm.multivariate["drifted"]
    assert hit.multivariate is not None and hit.multivariate["drifted"] and hit.multivariate["auc"] > 0.6
    assert not any(f.drifted for f in hit.features)  # neither marginal moved
    assert hit.dataset_drift


def test_schema_changes_and_volume_are_data_quality_verdicts(cfg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from monitor.stores.duckdb import DuckDBStore

    store = DuckDBStore(tmp_path / "x.duckdb")
    store.insert_frame(cfg.reference_table, simulate.reference(3000))
    logs, _ = simulate.traffic(1, 500, START, scenario="none")
    logs = logs.drop(columns=["ty_mean"])  # a monitored column gone from the logs
    logs["fx_mean"] = logs["fx_mean"].round(1).astype(str)  # a number logged as text
    logs["debug_blob"] = "x"  # a column the reference does not have
    store.insert_frame("predictions", logs)
    cfg = cfg.model_copy(update={"window": cfg.window.model_copy(update={"expected_rows": 2000})})
    s = run_window(cfg, store, START + timedelta(days=1))
    q = s.quality
    assert q is not None
    assert q["added_columns"] == ["debug_blob"]
    assert q["missing_columns"] == ["ty_mean"]
    assert s.data_quality["ty_mean"].null_rate == 1.0
    ty = next(f for f in s.features if f.name == "ty_mean")
    assert ty.status == "insufficient_data" and not ty.drifted
    assert "fx_mean" in q["type_changes"]
    volume = next(c for c in q["checks"] if c["check"] == "volume")
    assert volume["status"] == "problem" and volume["threshold"] == 2000  # 500 rows of 2,000 expected


def test_a_float_label_reference_against_int_labels_is_no_label_drift(cfg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from monitor.stores.duckdb import DuckDBStore

    store = DuckDBStore(tmp_path / "x.duckdb")
    ref = simulate.reference(4000)
    store.insert_frame(cfg.reference_table, ref.assign(label=ref["label"].astype(float)))  # 1.0 / 0.0
    logs, labels = simulate.traffic(2, 600, START, scenario="none")
    store.insert_frame("predictions", logs)
    store.upsert_labels("labels", labels, "request_id")  # 1 / 0
    s = run_window(cfg, store, START + timedelta(days=1))
    assert s.label_drift is not None and s.label_drift.value is not None
    assert s.label_drift.value < s.label_drift.threshold and not s.label_drift.drifted
    assert s.performance is not None and s.performance["metrics"]["accuracy"]["verdict"] == "ok"


def test_realized_performance_uses_the_served_class_and_a_disagreement_is_a_data_quality_problem(cfg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from monitor.stores.duckdb import DuckDBStore

    store = DuckDBStore(tmp_path / "x.duckdb")
    store.insert_frame(cfg.reference_table, simulate.reference(4000))
    logs, labels = simulate.traffic(2, 1000, START, scenario="none")
    flip = np.random.default_rng(5).random(len(logs)) < 0.03  # the served class overridden on 3% of rows
    logs["predicted_class"] = np.where(flip, 1 - logs["predicted_class"], logs["predicted_class"])
    store.insert_frame("predictions", logs)
    store.upsert_labels("labels", labels, "request_id")
    s = run_window(cfg, store, START + timedelta(days=1))
    day = logs[logs["ts"] < START + timedelta(days=1)].merge(labels, on="request_id")
    served_acc = float((day["predicted_class"] == day["label"]).mean())
    threshold_acc = float(((day["probability"] >= 0.5).astype(int) == day["label"]).mean())
    assert s.performance is not None and s.performance["predicted_by"] == "served class"
    assert abs(s.performance["metrics"]["accuracy"]["value"] - served_acc) < 1e-12 and served_acc != threshold_acc
    check = next(c for c in s.quality["checks"] if c["check"] == "served_class")  # type: ignore[index]
    assert check["status"] == "problem" and abs(check["value"] - flip[: len(day)].mean()) < 1e-12
    assert "realized performance uses the logged class" in check["detail"]


def test_a_served_class_that_agrees_with_the_threshold_is_fine(loaded) -> None:  # type: ignore[no-untyped-def]
    cfg, store = loaded
    s = run_window(cfg, store, START + timedelta(days=1))
    check = next(c for c in s.quality["checks"] if c["check"] == "served_class")  # type: ignore[index]
    assert check["status"] == "ok" and check["value"] == 0.0
