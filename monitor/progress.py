"""Progress bars for the CLI (count, rate, ETA) with rich: the one module that knows rich.

Shown only when both stdout and stderr are terminals and the user did not ask for --quiet or --json,
so a pipe or a CI log gets no control characters. The bar itself is drawn on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

Advance = Callable[[int], None]


def wanted(quiet: bool = False) -> bool:
    """Whether a progress bar belongs on this terminal."""
    return not quiet and sys.stdout.isatty() and sys.stderr.isatty()


@contextmanager
def progress(description: str, total: int | None, *, unit: str = "", enabled: bool = True) -> Iterator[Advance]:
    """A bar for `total` steps (unknown: None); yields `advance(n)`. A no-op when not enabled."""
    if not enabled:
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    rate = TextColumn("{task.fields[rate]}")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(), rate,
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    # redirect_stdout keeps tables printed while the bar runs above it, not through it.
    with Progress(*columns, console=Console(file=sys.stderr), transient=False, redirect_stdout=True) as bar:
        task = bar.add_task(description, total=total, rate="")

        def advance(n: int) -> None:
            bar.advance(task, n)
            t = bar.tasks[task]
            speed = t.completed / t.elapsed if t.elapsed else None  # the mean so far: steadier than rich's
            bar.update(task, rate=f"{speed:,.1f} {unit}/s" if speed else "")

        yield advance


def rows_in(path: Path) -> int | None:
    """The file's row count for the progress bar's ETA (Parquet metadata; a CSV's lines, minus its header)."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        with path.open("rb") as f:
            return max(sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1, 0)
    except OSError:
        return None
