"""Logging set-up: one JSON object per line for Cloud Logging, or a human format for local use.

The run id and the request's trace live in context variables, so every log line written while a run
or a request is being handled carries them without being passed around. ``TraceMiddleware`` (ASGI)
reads Cloud Run's ``X-Cloud-Trace-Context`` (or W3C ``traceparent``) header for each request.
"""

from __future__ import annotations

import contextlib
import contextvars
import json as jsonlib
import logging
import re
import sys
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

run_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("driftline_run_id", default=None)


@dataclass(frozen=True)
class Trace:
    """The trace a request belongs to, as Cloud Logging wants to see it."""

    trace_id: str  # 32 hex characters
    span_id: str | None = None  # 16 hex characters
    sampled: bool = False


trace_var: contextvars.ContextVar[Trace | None] = contextvars.ContextVar("driftline_trace", default=None)

# Cloud Logging's severities for Python's level names (NOTSET has no equivalent: DEFAULT).
_SEVERITY = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL"}
# The span is bounded: int() of a 4,300-digit string raises, and a header must never fail a request.
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d{1,20})(?!\d))?(?:;o=([01]))?")
_MAX_HEADER = 512  # longer trace headers are ignored rather than parsed
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_HANDLER_MARK = "_driftline_handler"
_HUMAN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s%(run_suffix)s: %(message)s"
# Servers that install their own handlers; their records should flow through ours instead.
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def parse_trace_header(cloud_trace: str | None, traceparent: str | None = None) -> Trace | None:
    """Read X-Cloud-Trace-Context ('TRACE/SPAN;o=1'), else W3C traceparent; None when neither parses."""
    if cloud_trace and len(cloud_trace) <= _MAX_HEADER:
        match = _CLOUD_TRACE.match(cloud_trace.strip())
        if match:
            trace_id, span, sampled = match.groups()
            # The legacy header gives the span as a decimal; Cloud Logging wants 16 hex digits.
            span_id = f"{int(span):016x}" if span and int(span) < 2**64 else None
            return Trace(trace_id.lower(), span_id, sampled == "1")
    if traceparent and len(traceparent) <= _MAX_HEADER:
        match = _TRACEPARENT.match(traceparent.strip().lower())
        if match:
            trace_id, span_id, flags = match.groups()
            return Trace(trace_id, span_id, bool(int(flags, 16) & 1))
    return None


@contextlib.contextmanager
def run_context(run_id: str) -> Iterator[None]:
    """Tag every log line written inside the block with this run id."""
    token = run_id_var.set(run_id)
    try:
        yield
    finally:
        run_id_var.reset(token)


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON with Cloud Logging's special fields."""

    def __init__(self, project_id: str | None = None) -> None:
        super().__init__()
        self.project_id = project_id

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        elif record.stack_info:
            message = f"{message}\n{self.formatStack(record.stack_info)}"
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": message,
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
            "logging.googleapis.com/sourceLocation": {
                "file": record.pathname,
                "line": str(record.lineno),
                "function": record.funcName,
            },
        }
        run_id = getattr(record, "run_id", None) or run_id_var.get()
        if run_id:
            entry["run_id"] = run_id
        trace = trace_var.get()
        if trace is not None:
            # Only the full resource name links a line to its request in the Logs Explorer.
            entry["logging.googleapis.com/trace"] = (
                f"projects/{self.project_id}/traces/{trace.trace_id}" if self.project_id else trace.trace_id
            )
            if trace.span_id:
                entry["logging.googleapis.com/spanId"] = trace.span_id
            entry["logging.googleapis.com/trace_sampled"] = trace.sampled
        fields = getattr(record, "json_fields", None)
        if isinstance(fields, dict):
            entry.update({k: v for k, v in fields.items() if k not in entry})
        return jsonlib.dumps(entry, default=str, ensure_ascii=False)


class _RunSuffix(logging.Filter):
    """Adds ' [run=...]' to human-format records while a run is in progress."""

    def filter(self, record: logging.LogRecord) -> bool:
        run_id = getattr(record, "run_id", None) or run_id_var.get()
        record.run_suffix = f" [run={run_id}]" if run_id else ""
        return True


def configure_logging(
    level: str | int = "INFO", json: bool = False, project_id: str | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """Send every log record to one handler on the root logger, as JSON lines or human text."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if json:
        handler.setFormatter(JsonFormatter(project_id))
    else:
        handler.setFormatter(logging.Formatter(_HUMAN_FORMAT))
        handler.addFilter(_RunSuffix())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    # Calling twice (tests, reloads) replaces our handler instead of doubling every line.
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in _SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
        server_logger.setLevel(logging.NOTSET)  # uvicorn sets its own level; ours on the root decides
    return handler


def drop_plain_handlers() -> None:
    """Remove the root's plain stream handlers (logging.basicConfig's) other than ours: one line per event."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if type(h) is logging.StreamHandler
                    and not getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TraceMiddleware:
    """ASGI middleware: puts each request's trace into ``trace_var`` for the log lines it causes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        token = trace_var.set(parse_trace_header(headers.get("x-cloud-trace-context"), headers.get("traceparent")))
        try:
            await self.app(scope, receive, send)
        finally:
            trace_var.reset(token)
