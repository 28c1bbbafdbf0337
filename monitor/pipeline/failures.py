"""One model's failed run, named: the model, the phase it failed in, what went wrong and what to do.

`run_models` catches each model's failure, so the other models still run; the API answers 503 only
when a retry may help (the store down, a table the first logged rows will create).
"""

from __future__ import annotations

import time
from contextvars import ContextVar

from pydantic import BaseModel

from monitor.errors import ConfigError, InvalidWindow, RunInProgress, StoreUnavailable, TableNotFound

_PHASE: ContextVar[str] = ContextVar("driftline_phase", default="start")
# The current phase's start (wall, CPU) and the seconds spent in each phase so far: what a run costs, by part
# (bench/run_cost.py reads them from the summary's extra["phases"]).
_STARTED: ContextVar[tuple[float, float] | None] = ContextVar("driftline_phase_started", default=None)
_SPENT: ContextVar[dict[str, list[float]] | None] = ContextVar("driftline_phase_spent", default=None)


def phase(name: str) -> None:
    """Mark the phase the current run is in (reference, profile, samples, classifier, decide, report, ...).

    The time since the previous mark is added to that phase's wall and CPU seconds (see `phase_times`).
    """
    now = (time.perf_counter(), time.process_time())
    started, spent = _STARTED.get(), _SPENT.get()
    if started is not None and spent is not None:
        cost = spent.setdefault(_PHASE.get(), [0.0, 0.0])
        cost[0] += now[0] - started[0]
        cost[1] += now[1] - started[1]
    _PHASE.set(name)
    _STARTED.set(now)


def start_timing() -> None:
    """Start counting phase times afresh (at the start of each model's run)."""
    _SPENT.set({})
    _STARTED.set((time.perf_counter(), time.process_time()))


def phase_times() -> dict[str, dict[str, float]]:
    """Wall and CPU seconds per phase since `start_timing`, the current phase counted up to now."""
    phase(_PHASE.get())
    return {name: {"wall": round(w, 4), "cpu": round(c, 4)} for name, (w, c) in (_SPENT.get() or {}).items()}


class RunFailure(BaseModel):
    """A model whose run failed: the entry POST /run and `driftline run` show instead of its summary."""

    model: str
    phase: str
    error: str
    detail: str
    retryable: bool
    do: str
    status: str = "failed"

    def line(self) -> str:
        if self.status == "in_progress":
            return f"{self.model}: run in progress elsewhere: {self.detail} ({self.do})"
        return f"{self.model}: run failed in {self.phase}: {self.error}: {self.detail} ({self.do})"


def failure(model: str, exc: BaseException) -> RunFailure:
    """The failure of a model's run from the exception it ended with, in the phase it had reached."""
    status = "failed"
    if isinstance(exc, RunInProgress):
        do = "another caller is running this window; its result will be stored: retry in a minute"
        status = "in_progress"
    elif isinstance(exc, InvalidWindow):
        do = "choose an `at` inside the valid range"
    elif isinstance(exc, StoreUnavailable):
        do = "the store is unreachable; a retry may succeed"
    elif isinstance(exc, TableNotFound):
        do = "check the table names (`driftline check`) or ingest data; a retry succeeds once the table exists"
    elif isinstance(exc, ConfigError):
        do = "fix the config; `driftline check` lists every problem"
    else:
        do = "unexpected: please report it with the service log of this run"
    return RunFailure(model=model, phase=_PHASE.get(), error=type(exc).__name__, detail=str(exc) or repr(exc),
                      retryable=isinstance(exc, (StoreUnavailable, TableNotFound)), do=do, status=status)
