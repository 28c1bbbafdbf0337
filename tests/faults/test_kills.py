"""SIGKILL of a `driftline run` at each phase, then a re-run: nothing lost, nothing twice but the one window."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from monitor.api import wiring as service
from monitor.schema import faults
from monitor.stores.duckdb import DuckDBStore
from tests.faults import killed_run
from tests.faults.conftest import AT, Service

# The one duplicate no API lets us close: the vendor accepted, the process died before the outbox marked it.
DUPLICATED = {"after_accept": (2, 1)}


def _killed_run(svc: Service, point: str) -> int:
    """`driftline run` in a forked child (its imports are the parent's: no seconds of start-up) that SIGKILLs
    itself at `point`; the child's exit status."""
    service.close_stores()  # the DuckDB file is the child's while it runs
    pid = os.fork()
    if pid == 0:  # the child: tests.faults.killed_run's main, without a new interpreter
        try:
            sys.argv = ["killed_run", str(svc.directory), point, AT.isoformat()]
            os._exit(killed_run.main())
        finally:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


@pytest.mark.parametrize("point", ["after_lease", "after_profile", "before_save", "after_save", "before_send",
                                   "after_accept", "after_mark"])
def test_a_run_killed_at_each_phase_then_run_again_loses_nothing_and_repeats_nothing(svc: Service, point: str) -> None:
    assert point in faults.POINTS
    assert _killed_run(svc, point) == -signal.SIGKILL
    time.sleep(1.1)  # the outbox's claim_ttl in this config: a row claimed by the dead process is free again
    [summary] = service.run(svc.configs, at=AT)  # the scheduler's retry; the dead holder's lease is taken over
    assert summary.rows == 300
    store = service.open_store(svc.cfg)
    assert [r.run_id for r in store.list_runs(svc.cfg.model)] == [summary.run_id]  # stored once
    rows = store.alert_state().deliveries(svc.cfg.model)
    assert {r.channel: r.status for r in rows} == {"slack": "delivered", "sms:1": "delivered"}
    assert svc.sent() == DUPLICATED.get(point, (1, 1))
    service.run(svc.configs, at=AT)  # and yet another retry sends nothing more
    assert svc.sent() == DUPLICATED.get(point, (1, 1))


def test_a_killed_runs_lease_is_taken_over_at_once_on_the_same_host(svc: Service) -> None:
    assert _killed_run(svc, "after_profile") == -signal.SIGKILL
    store = DuckDBStore(svc.directory / "driftline.duckdb")
    holder = store.lease_owner(f"{svc.cfg.model}-{(AT.replace(day=AT.day - 1)):%Y%m%dT%H%M}Z-24h")
    store.close()
    assert holder is not None  # the dead process's lease is still written ...
    t0 = time.monotonic()
    service.run(svc.configs, at=AT)
    assert time.monotonic() - t0 < 10  # ... and the re-run did not wait for its 30 min expiry
