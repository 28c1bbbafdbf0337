"""The run page shows open, acknowledged, silenced and inhibited alerts distinctly."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from alerts.console import ConsoleNotifier
from alerts.suppress import acknowledge, add_silence
from monitor.api.wiring import open_incidents
from monitor.stores.duckdb import DuckDBAlertState
from reports.pages import run_page
from tests.alerts.conftest import T0, Harness, make_summary


class _Store:
    def __init__(self, state: object) -> None:
        self._state = state

    def alert_state(self) -> object:
        return self._state


def test_the_page_shows_each_state_as_itself(tmp_path: Path) -> None:
    harness = Harness(DuckDBAlertState(tmp_path / "a.duckdb"), {"console": ConsoleNotifier(io.StringIO())})
    harness.run(make_summary(0, {"force_z": 0.42}))  # feature drift: open
    add_silence(harness.state, "wheel-assembly", duration=timedelta(days=1), reason="new <tire> batch", by="ana",
                now=T0, rule="null_rate")
    harness.run(make_summary(1, {"force_z": 0.42}, null_rates={"torque": 0.3}))
    acknowledge(harness.state, "wheel-assembly", "feature_drift", None, by="bo", now=T0 + timedelta(hours=2))
    broken = make_summary(2, {"force_z": 0.42}, rows=10, null_rates={"torque": 0.3}).model_copy(
        update={"expected_rows": 1000})
    out = harness.run(broken)
    broken.extra["suppressed"] = out.suppressed_extra()
    cfg = type("Cfg", (), {"model": "wheel-assembly"})()
    page = run_page(broken, [], evidently_url=None, open_incidents=open_incidents(cfg, _Store(harness.state)))
    assert "<li class='incident state-acknowledged'><span class='badge state-acknowledged'>acknowledged</span> by bo" \
        in page
    assert "<li class='incident state-open'><span class='badge state-open'>open</span> critical volume" in page
    assert "state-silenced'>silenced</span> critical null_rate / dataset" in page
    assert "by ana until 2026-03-02T00:00:00+00:00: new &lt;tire&gt; batch" in page
    assert "state-inhibited'>inhibited</span> warn feature_drift / features" in page
    assert "inhibited by the volume failure: 10 rows, expected 1000 (off by 99%)" in page
