"""The DuckDB alert state: its own tables, on a connection or a file, insert-if-absent outbox."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb

from monitor.schema.alerting import Delivery, Incident
from monitor.stores.duckdb import DuckDBAlertState
from tests.alerts.conftest import T0


def _row(key: str, hour: int, position: int = 0, channel: str = "slack") -> Delivery:
    from datetime import timedelta

    end = T0 + timedelta(hours=hour)
    return Delivery(key=key, model="m", run_key=f"r{hour}", rule="r", subject="s", channel=channel,
                    severity="warn", payload="{}", window_end=end, position=position, created_at=end)


def test_tables_on_a_given_connection() -> None:
    con = duckdb.connect()
    DuckDBAlertState(con)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"driftline_alert_incidents", "driftline_alert_outbox", "driftline_alert_meta"} <= tables


def test_outbox_inserts_absent_keys_and_lists_pending_oldest_first(tmp_path: Path) -> None:
    state = DuckDBAlertState(tmp_path / "s.duckdb")
    assert state.add_deliveries([_row("b", 2), _row("a", 1, 1), _row("c", 1, 0)]) == 3
    assert state.add_deliveries([_row("a", 1, 1), _row("d", 3)]) == 1
    state.update_delivery(replace(_row("d", 3), status="delivered"))
    assert [d.key for d in state.pending_deliveries("m")] == ["c", "a", "b"]
    assert DuckDBAlertState(tmp_path / "s.duckdb").pending_deliveries("other") == []


def test_incidents_upsert_by_model_rule_subject(tmp_path: Path) -> None:
    state = DuckDBAlertState(tmp_path / "s.duckdb")
    inc = Incident("m", "r", "s", "open", "warn", T0, T0, "warn", T0, "k")
    state.save_incidents([inc])
    state.save_incidents([replace(inc, severity="critical")])
    assert [i.severity for i in DuckDBAlertState(tmp_path / "s.duckdb").incidents("m")] == ["critical"]
    state.set_meta("x", "1")
    state.set_meta("x", "2")
    assert state.get_meta("x") == "2" and state.get_meta("y") is None


def test_an_older_incidents_table_gains_the_acknowledgement_columns(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute("CREATE TABLE driftline_alert_incidents (model VARCHAR, rule VARCHAR, subject VARCHAR, "
                "status VARCHAR, severity VARCHAR, opened_at TIMESTAMPTZ, last_notified_at TIMESTAMPTZ, "
                "last_notified_severity VARCHAR, last_window_end TIMESTAMPTZ, last_run_key VARCHAR, "
                "PRIMARY KEY (model, rule, subject))")
    con.execute("INSERT INTO driftline_alert_incidents VALUES ('m', 'r', 's', 'open', 'warn', ?, ?, 'warn', ?, 'k')",
                [T0, T0, T0])
    state = DuckDBAlertState(con)
    (old,) = state.incidents("m")
    assert (old.acknowledged_by, old.acknowledged_at, old.silenced) == ("", None, "")
    state.save_incidents([replace(old, acknowledged_by="ana")])
    assert state.incidents("m")[0].acknowledged_by == "ana"
