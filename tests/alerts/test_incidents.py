"""The incident state machine, one step at a time."""

from __future__ import annotations

from datetime import timedelta

from alerts.incidents import step
from alerts.rules import Finding
from tests.alerts.conftest import T0

H = timedelta(hours=1)


def run(incident, level, hour, cooldown=timedelta(hours=3)):  # type: ignore[no-untyped-def]
    return step(incident, Finding("dataset_drift", "dataset", level), model="m", window_end=T0 + hour * H,
                run_key=f"k{hour}", cooldown=cooldown)


def test_lifecycle_open_escalate_remind_resolve() -> None:
    kinds = []
    inc = None
    for hour, level in enumerate(["warn", "warn", "critical", "critical", "critical", "critical", None, None]):
        inc, t = run(inc, level, hour)
        kinds.append(t and (t.kind, t.severity))
    assert kinds == [("open", "warn"), None, ("escalate", "critical"), None, None, ("renotify", "critical"),
                     ("resolve", "resolved"), None]
    assert inc is not None and inc.status == "resolved"


def test_a_window_seen_before_changes_nothing() -> None:
    inc, _ = run(None, "warn", 1)
    for level in ("critical", None):
        again, t = run(inc, level, 1)
        assert t is None and again == inc
        older, t = run(inc, level, 0)
        assert t is None and older == inc


def test_de_escalation_is_silent_and_re_escalation_within_cooldown_too() -> None:
    inc, _ = run(None, "critical", 0)
    inc, t1 = run(inc, "warn", 1)
    inc, t2 = run(inc, "critical", 2)
    assert (t1, t2) == (None, None)
    assert inc is not None and inc.severity == "critical"


def test_reopening_after_resolution_notifies_again() -> None:
    inc, _ = run(None, "warn", 0)
    inc, _ = run(inc, None, 1)
    inc, t = run(inc, "warn", 2)
    assert t is not None and t.kind == "open" and inc is not None and inc.opened_at == T0 + 2 * H
