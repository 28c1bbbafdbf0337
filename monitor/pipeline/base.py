"""What the pipeline needs from the rooms it must not import: alerting and reporting, as small Protocols.

The composition roots (monitor/api/wiring.py, monitor/cli.py) pass alerts' and reports' implementations in.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import pandas as pd

from monitor.schema.summary import AlertEntry, RunSummary


class AlertHook(Protocol):
    """Given a run's summary and the model's earlier ones (newest first): the alerts it raised.

    `only` limits the rules evaluated: a past window re-scored for late labels is alerted on its
    performance alone (its drift was alerted on at its own run). `defer`: what that finds is said in the
    next call's message (the current run's), so a run sends one message, not one per window.
    """

    def __call__(self, summary: RunSummary, history: Sequence[RunSummary], *,
                 only: Sequence[str] | None = None, defer: bool = False) -> list[AlertEntry]: ...


class ReportBuilder(Protocol):
    """Writes one run's HTML report on bounded samples of the window and the reference; its path, or None."""

    def __call__(self, current: pd.DataFrame, reference: pd.DataFrame, *, numerical: Sequence[str],
                 categorical: Sequence[str], path: Path, target: str | None, prediction: str | None,
                 title: str) -> Path | None: ...
