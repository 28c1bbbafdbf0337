"""The prediction logger for a served model: log() never blocks or fails a request.

    request thread                     background thread                BigQuery
    log(...) -> bounded queue  ---->   batch (<= batch_size rows,  ---> insertAll
       full? drop and count            or flush_interval elapsed)       insertId = request id
                                       transient error? back off, retry the SAME batch

A retried batch carries the same insert ids (the request ids), so BigQuery keeps one copy.
While the sink is down the queue keeps the oldest rows and drops (and counts) the newest.

The predictions table is the one `driftline init` creates from the model's config (the columns the
monitored features read, the probability, the class, ids and version). `for_bigquery` reads its
schema at start-up: a record shape the table would reject, or one that leaves a monitored column
NULL in every row, fails there, not row by row; values the table does not monitor are not sent.
Only google-cloud-bigquery is needed (requirements-logger.txt): no pandas, numpy or Evidently.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from monitor.errors import StoreError, StoreUnavailable

log = logging.getLogger(__name__)

Row = dict[str, Any]


class RowSink(Protocol):
    """Writes one batch of rows; raises StoreUnavailable (retry) or StoreError (give up)."""

    def insert(self, rows: Sequence[Row], row_ids: Sequence[str]) -> None: ...


@dataclass(frozen=True)
class LoggerStats:
    """What happened to every row given to log()."""

    logged: int  # accepted onto the queue
    sent: int  # acknowledged by the sink
    dropped: int  # refused because the queue was full (or still queued when close() gave up)
    failed: int  # given up after a permanent error or max_retries
    retries: int  # batch attempts that failed and were retried
    queued: int  # waiting right now


# The columns log() writes besides the features: the predictions table's ids, version and outputs.
FIXED_COLUMNS = ("request_id", "ts", "model_name", "model_version", "probability", "predicted_class")
REQUIRED_COLUMNS = ("request_id", "ts")


class BigQuerySink:
    """Streams rows into one BigQuery table with insert_rows_json, request ids as insert ids."""

    def __init__(self, client: Any, table: str, timeout: float = 30.0) -> None:
        self._client = client
        self._table = table
        self._timeout = timeout

    def columns(self) -> dict[str, str]:
        """The table's columns (name -> mode), read once at start-up."""
        from google.api_core import exceptions as gexc

        try:
            table = self._client.get_table(self._table, timeout=self._timeout)
        except gexc.NotFound as exc:
            raise StoreError(f"table {self._table} not found: run `driftline init` or check the name") from exc
        except gexc.GoogleAPICallError as exc:
            raise StoreError(f"cannot read the schema of {self._table}: {exc}") from exc
        return {f.name: f.mode or "NULLABLE" for f in table.schema}

    def insert(self, rows: Sequence[Row], row_ids: Sequence[str]) -> None:
        from google.api_core import exceptions as gexc
        from requests import exceptions as rexc

        try:
            # retry=None: the logger owns retrying, so an outage never stalls inside the client.
            # Rows hold only the table's columns (checked at start-up); should a column be dropped from
            # the table later, ignore_unknown_values loses that column, not the whole row.
            errors = self._client.insert_rows_json(
                self._table, list(rows), row_ids=list(row_ids), retry=None, timeout=self._timeout,
                ignore_unknown_values=True, skip_invalid_rows=False,
            )
        except (gexc.TooManyRequests, gexc.ServerError, gexc.RetryError) as exc:
            raise StoreUnavailable(f"BigQuery insertAll into {self._table} failed, retrying: {exc}") from exc
        except (rexc.ConnectionError, rexc.Timeout, ConnectionError, TimeoutError) as exc:
            raise StoreUnavailable(f"BigQuery unreachable while writing {self._table}: {exc}") from exc
        except gexc.NotFound as exc:
            raise StoreError(f"table {self._table} not found: run `driftline init` or check the name") from exc
        except gexc.Forbidden as exc:
            raise StoreError(
                f"not allowed to write {self._table}: the service account needs roles/bigquery.dataEditor"
            ) from exc
        except gexc.GoogleAPICallError as exc:
            raise StoreError(f"BigQuery refused rows for {self._table}: {exc}") from exc
        if errors:
            raise StoreError(f"BigQuery rejected {len(errors)} row(s) of {self._table}: {errors[:3]}")


class PredictionLogger:
    """Queues prediction rows in memory and streams them to a sink from one background thread."""

    def __init__(
        self,
        sink: RowSink,
        *,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_retries: int | None = None,
        backoff: float = 0.2,
        max_backoff: float = 10.0,
        columns: Sequence[str] | None = None,
    ) -> None:
        if queue_size < 1 or batch_size < 1 or flush_interval <= 0 or backoff <= 0:
            raise ValueError("queue_size, batch_size, flush_interval and backoff must be positive")
        self._sink = sink
        # The table's columns: a row is cut down to them (None: sent as logged).
        self._columns = frozenset(columns) if columns is not None else None
        self._queue: queue.Queue[tuple[str, Row]] = queue.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        # None: retry a transient failure until close(); older rows are kept, newer ones dropped.
        self._max_retries = max_retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._lock = threading.Lock()
        self._counts = {"logged": 0, "sent": 0, "dropped": 0, "failed": 0, "retries": 0}
        self._closing = threading.Event()
        self._deadline = math.inf  # monotonic time after which close() stops retrying
        self._thread = threading.Thread(target=self._run, name="driftline-predlog", daemon=True)
        self._thread.start()

    @classmethod
    def for_bigquery(cls, client: Any, table: str, *, features: Sequence[str] | None = None,
                     **options: Any) -> PredictionLogger:
        """A logger streaming into `project.dataset.table` through a google.cloud.bigquery.Client.

        `features` names what each log() call passes: a monitored column of the table that is not
        among them, or a fixed column the table lacks, is refused here (StoreError), at start-up.
        """
        timeout = options.pop("timeout", 30.0)
        sink = BigQuerySink(client, table, timeout=timeout)
        schema = sink.columns()
        check_record_shape(table, schema, features)
        return cls(sink, columns=tuple(schema), **options)

    def log(
        self,
        request_id: str,
        timestamp: datetime,
        model_name: str,
        model_version: str,
        features: Mapping[str, Any],
        probability: float,
        predicted_class: int | str,
    ) -> bool:
        """Queue one prediction row; returns False (and counts a drop) when the queue is full.

        The row's columns are those of the predictions table (monitor.stores.bigquery.schema.predictions_table):
        request_id, ts, model_name, model_version, one per feature, probability, predicted_class.
        """
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
        row: Row = {
            "request_id": request_id,
            "ts": timestamp.astimezone(UTC).isoformat(),
            "model_name": model_name,
            "model_version": model_version,
            **{name: _json_value(value) for name, value in features.items()},
            "probability": _json_value(probability),
            "predicted_class": predicted_class,
        }
        if self._columns is not None:
            row = {k: v for k, v in row.items() if k in self._columns}
        if self._closing.is_set():
            self._count("dropped")
            return False
        try:
            self._queue.put_nowait((request_id, row))
        except queue.Full:
            self._count("dropped")
            return False
        self._count("logged")
        return True

    def stats(self) -> LoggerStats:
        """Counters so far (sent, dropped, failed, retries...)."""
        with self._lock:
            return LoggerStats(**self._counts, queued=self._queue.qsize())

    def close(self, timeout: float = 30.0) -> LoggerStats:
        """Stop accepting rows, send what is queued (retrying for up to `timeout` s), and stop."""
        self._deadline = time.monotonic() + timeout
        self._closing.set()
        self._thread.join(timeout + 5.0)
        # Whatever is still queued could not be delivered in time.
        leftover = 0
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
            leftover += 1
        if leftover:
            log.warning("prediction logger closed with %d undelivered rows", leftover)
            self._count("dropped", leftover)
        return self.stats()

    # -- background thread ----------------------------------------------------------------------

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch:
                self._deliver(batch)
            elif self._closing.is_set() and self._queue.empty():
                return

    def _next_batch(self) -> list[tuple[str, Row]]:
        """Up to batch_size rows, waiting at most flush_interval for the batch to fill."""
        batch: list[tuple[str, Row]] = []
        until = time.monotonic() + self._flush_interval
        while len(batch) < self._batch_size:
            remaining = until - time.monotonic()
            if self._closing.is_set():
                remaining = 0.0  # closing: send what is there, do not wait for more
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            batch.append(item)
        return batch

    def _deliver(self, batch: list[tuple[str, Row]]) -> None:
        ids = [request_id for request_id, _ in batch]
        rows = [row for _, row in batch]
        attempt = 0
        while True:
            try:
                self._sink.insert(rows, ids)
            except StoreUnavailable as exc:
                attempt += 1
                out_of_retries = self._max_retries is not None and attempt > self._max_retries
                delay = min(self._max_backoff, self._backoff * 2 ** (attempt - 1))
                if out_of_retries or time.monotonic() + delay > self._deadline:
                    log.error("giving up on %d prediction rows after %d attempts: %s", len(rows), attempt, exc)
                    self._count("failed", len(rows))
                    return
                self._count("retries")
                log.warning("prediction rows not sent (attempt %d), retrying in %.1fs: %s", attempt, delay, exc)
                self._sleep(delay)
            except StoreError as exc:
                log.error("dropping %d prediction rows: %s", len(rows), exc)
                self._count("failed", len(rows))
                return
            except Exception:
                log.exception("unexpected error writing %d prediction rows", len(rows))
                self._count("failed", len(rows))
                return
            else:
                self._count("sent", len(rows))
                return

    def _sleep(self, delay: float) -> None:
        if self._closing.is_set():
            time.sleep(delay)
        else:
            # close() wakes the thread early so a long backoff does not eat its flush deadline.
            self._closing.wait(delay)


def check_record_shape(table: str, schema: Mapping[str, str], features: Sequence[str] | None) -> None:
    """Refuse a record shape the table would reject, or that would leave a monitored column always NULL."""
    missing = [c for c in REQUIRED_COLUMNS if c not in schema]
    if missing:
        raise StoreError(f"table {table} has no column(s) {missing}: it is not a predictions table "
                         "created by `driftline init`")
    if features is None:
        return
    required = [c for c, mode in schema.items() if mode == "REQUIRED" and c not in (*FIXED_COLUMNS, *features)]
    unlogged = [c for c in schema if c not in FIXED_COLUMNS and c not in features]
    if required or unlogged:
        raise StoreError(f"table {table} monitors column(s) {sorted({*required, *unlogged})} that this app "
                         "does not log: every row would have them NULL (or be rejected). Log them, or remove "
                         "them from the model config and re-create the table with `driftline init`.")


_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def _json_value(value: Any) -> Any:
    """A JSON-safe scalar: numpy numbers to Python; NaN and inf as the strings BigQuery reads for FLOAT64."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        # Kept, not nulled: NaN and inf are data quality findings of the run, not missing values.
        return "NaN" if math.isnan(value) else _NON_FINITE[value]
    return value
