"""Evidently's report of a run, built off the run's critical path.

A run keeps the bounded samples it drew (the classifier's) beside where the report will be: two small
Parquet files and the build's arguments. The verdicts, alerts and summary are stored without waiting;
the report (2 to 30 s of Evidently) is built from those files later, by whoever needs it first: the
service right after POST /run (in the background), the run page when opened before that (it says the
report is being built), or `driftline run --reports` after printing the summaries. Once built, the
samples are deleted and the HTML is served as is.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import pandas as pd

from monitor.pipeline.base import ReportBuilder

log = logging.getLogger(__name__)

State = Literal["built", "failed", "pending", "none"]
_ARGS = "build.json"


def samples_dir(path: Path) -> Path:
    """Where a report's samples wait for its build: beside the report's own path."""
    return path.with_name(path.stem + ".samples")


def error_path(path: Path) -> Path:
    """Where a failed build leaves its reason (the same file reports.evidently_report writes)."""
    return path.with_name(path.stem + ".error.txt")


def save_samples(path: Path, current: pd.DataFrame, reference: pd.DataFrame, *, numerical: Sequence[str],
                 categorical: Sequence[str], target: str | None, prediction: str | None, title: str) -> None:
    """Keep what the report of `path` will be built from; the arguments last, so a half-written job is no job."""
    folder = samples_dir(path)
    folder.mkdir(parents=True, exist_ok=True)
    current.to_parquet(folder / "window.parquet", index=False)
    reference.to_parquet(folder / "reference.parquet", index=False)
    args = {"numerical": list(numerical), "categorical": list(categorical), "target": target,
            "prediction": prediction, "title": title}
    (folder / (_ARGS + ".tmp")).write_text(json.dumps(args))
    (folder / (_ARGS + ".tmp")).replace(folder / _ARGS)


def state(path: Path | None) -> State:
    """Whether the report at `path` is built, failed, waiting to be built, or not wanted."""
    if path is None:
        return "none"
    if path.exists():
        return "built"
    if error_path(path).exists():
        return "failed"
    return "pending" if (samples_dir(path) / _ARGS).exists() else "none"


def build(path: Path, builder: ReportBuilder) -> Path | None:
    """Build the report of `path` from its saved samples (now); its path, or None if it failed or has no job."""
    folder = samples_dir(path)
    try:
        args = json.loads((folder / _ARGS).read_text())
        current = pd.read_parquet(folder / "window.parquet")
        reference = pd.read_parquet(folder / "reference.parquet")
    except (OSError, ValueError) as exc:  # built meanwhile by another caller, or the files are damaged
        if path.exists():
            return path
        log.warning("Evidently report %s: its samples are unreadable: %s", path.name, exc)
        return None
    # Written aside, then renamed: the page serves the report as soon as its path exists, never half of it.
    part = path.with_name(path.stem + ".part.html")
    out = builder(current, reference, numerical=args["numerical"], categorical=args["categorical"], path=part,
                  target=args["target"], prediction=args["prediction"], title=args["title"])
    if out is not None:
        Path(out).replace(path)
    elif error_path(part).exists():
        error_path(part).replace(error_path(path))
    shutil.rmtree(folder, ignore_errors=True)  # built or failed (the error file says why): done either way
    return path if out is not None else None


class ReportJobs:
    """One background thread building the reports asked for, each once, in the order asked."""

    def __init__(self, builder: ReportBuilder) -> None:
        self._builder = builder
        self._pool: ThreadPoolExecutor | None = None
        self._running: dict[Path, Future[Path | None]] = {}
        self._lock = threading.Lock()

    def submit(self, path: Path) -> Future[Path | None] | None:
        """Build `path`'s report in the background unless it is built, failed, or already on its way."""
        with self._lock:
            if path in self._running:
                return self._running[path]
            if state(path) != "pending":
                return None
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="driftline-report")
            job = self._pool.submit(self._build, path)
            self._running[path] = job
            return job

    def _build(self, path: Path) -> Path | None:
        try:
            return build(path, self._builder)
        except Exception as exc:  # noqa: BLE001 - a failed visual must not kill the thread that builds the others
            log.warning("Evidently report %s failed: %s", path.name, exc)
            return None
        finally:
            with self._lock:
                self._running.pop(path, None)

    def building(self, path: Path) -> bool:
        """Whether `path`'s report is queued or being built now."""
        with self._lock:
            return path in self._running

    def shutdown(self) -> None:
        """Let the build under way finish; drop the queued ones (their samples stay, the page rebuilds them)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
