"""What the pipeline needs from the rooms it must not import: alerting and reporting, as small Protocols.

The composition roots (monitor/api/wiring.py, monitor/cli.py) pass alerts' and reports' implementations in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import pandas as pd

from monitor.schema.summary import AlertEntry, RunSummary

# Given a run's summary and the model's earlier ones (newest first): the alerts it raised.
AlertHook = Callable[[RunSummary, Sequence[RunSummary]], list[AlertEntry]]


class ReportBuilder(Protocol):
    """Writes one run's HTML report on bounded samples of the window and the reference; its path, or None."""

    def __call__(self, current: pd.DataFrame, reference: pd.DataFrame, *, numerical: Sequence[str],
                 categorical: Sequence[str], path: Path, target: str | None, prediction: str | None,
                 title: str) -> Path | None: ...
