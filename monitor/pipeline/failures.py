"""One model's failed run, named: the model, the phase it failed in, what went wrong and what to do.

`run_models` catches each model's failure, so the other models still run; the API answers 503 only
when a retry may help (the store down, a table the first logged rows will create).
"""

from __future__ import annotations

from contextvars import ContextVar

from pydantic import BaseModel

from monitor.errors import ConfigError, InvalidWindow, RunInProgress, StoreUnavailable, TableNotFound

_PHASE: ContextVar[str] = ContextVar("driftline_phase", default="start")


def phase(name: str) -> None:
    """Mark the phase the current run is in (reference, profile, decide, report, alerts, persist)."""
    _PHASE.set(name)


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
