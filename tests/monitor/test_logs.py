"""JSON log lines for Cloud Logging, run ids and traces from context, the human format."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from monitor.logs import Trace, TraceMiddleware, configure_logging, parse_trace_header, run_context

log = logging.getLogger("driftline.test")
TRACE = "105445aa7843bc8bf206b12000100000"


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line_with_severity_and_run_id() -> None:
    out = io.StringIO()
    configure_logging("INFO", json=True, stream=out)
    log.debug("not shown")
    log.info("window profiled: %d rows", 1200)
    with run_context("run-20260101T0000-abc"):
        log.warning("feature %s drifted", "force_z")
    log.error("after the run")
    lines = _lines(out)
    assert [(e["severity"], e["message"]) for e in lines] == [
        ("INFO", "window profiled: 1200 rows"),
        ("WARNING", "feature force_z drifted"),
        ("ERROR", "after the run"),
    ]
    assert [e.get("run_id") for e in lines] == [None, "run-20260101T0000-abc", None]
    assert lines[0]["logger"] == "driftline.test"
    assert lines[0]["logging.googleapis.com/sourceLocation"]["function"] == (  # type: ignore[index]
        "test_one_json_object_per_line_with_severity_and_run_id"
    )
    assert "logging.googleapis.com/trace" not in lines[0]


def test_exceptions_stay_inside_one_line() -> None:
    out = io.StringIO()
    configure_logging("INFO", json=True, stream=out)
    try:
        raise ValueError("bad window")
    except ValueError:
        log.exception("run failed")
    (entry,) = _lines(out)
    assert entry["severity"] == "ERROR"
    assert str(entry["message"]).startswith("run failed\nTraceback")
    assert "ValueError: bad window" in str(entry["message"])


def test_extra_json_fields_are_merged_without_overriding_ours() -> None:
    out = io.StringIO()
    configure_logging("INFO", json=True, stream=out)
    log.info("sent", extra={"json_fields": {"channel": "slack", "severity": "nope"}})
    (entry,) = _lines(out)
    assert entry["channel"] == "slack"
    assert entry["severity"] == "INFO"


def test_configuring_twice_does_not_double_lines() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", json=True, stream=first)
    configure_logging("INFO", json=True, stream=second)
    log.info("once")
    assert first.getvalue() == ""
    assert len(_lines(second)) == 1


def test_human_format_for_local_use() -> None:
    out = io.StringIO()
    configure_logging("debug", json=False, stream=out)
    log.debug("plain")
    with run_context("r1"):
        log.info("inside")
    first, second = out.getvalue().splitlines()
    assert first.endswith("DEBUG   driftline.test: plain")
    assert second.endswith("INFO    driftline.test [run=r1]: inside")


def test_uvicorn_loggers_go_through_our_handler() -> None:
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.addHandler(logging.StreamHandler(io.StringIO()))
    uvicorn_access.propagate = False
    out = io.StringIO()
    configure_logging("INFO", json=True, stream=out)
    uvicorn_access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/healthz", "1.1", 200)
    (entry,) = _lines(out)
    assert entry["message"] == '127.0.0.1:5000 - "GET /healthz HTTP/1.1" 200'


@pytest.mark.parametrize(
    "cloud, traceparent, expected",
    [
        (f"{TRACE}/1;o=1", None, Trace(TRACE, "0000000000000001", True)),
        (f"{TRACE}/12345678901234567890;o=0", None, Trace(TRACE, "ab54a98ceb1f0ad2", False)),
        (TRACE.upper(), None, Trace(TRACE, None, False)),
        (None, f"00-{TRACE}-00f067aa0ba902b7-01", Trace(TRACE, "00f067aa0ba902b7", True)),
        ("not-a-trace", f"00-{TRACE}-00f067aa0ba902b7-00", Trace(TRACE, "00f067aa0ba902b7", False)),
        ("not-a-trace", "00-short-00", None),
        (None, None, None),
    ],
)
def test_parse_trace_header(cloud: str | None, traceparent: str | None, expected: Trace | None) -> None:
    assert parse_trace_header(cloud, traceparent) == expected


def _traced_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(TraceMiddleware)

    @app.get("/async")
    async def in_loop() -> str:
        log.info("async handler")
        return "ok"

    @app.get("/sync")
    def in_thread() -> str:
        log.info("sync handler")
        return "ok"

    return app


def test_middleware_puts_the_request_trace_on_every_line() -> None:
    out = io.StringIO()
    configure_logging("INFO", json=True, project_id="my-proj", stream=out)
    client = TestClient(_traced_app())
    header = {"X-Cloud-Trace-Context": f"{TRACE}/17;o=1"}
    assert client.get("/async", headers=header).status_code == 200
    assert client.get("/sync", headers=header).status_code == 200
    assert client.get("/sync").status_code == 200  # no header: no trace, and none left over
    handler_lines = [e for e in _lines(out) if e["logger"] == "driftline.test"]
    assert [e.get("logging.googleapis.com/trace") for e in handler_lines] == [
        f"projects/my-proj/traces/{TRACE}",
        f"projects/my-proj/traces/{TRACE}",
        None,
    ]
    assert handler_lines[0]["logging.googleapis.com/spanId"] == "0000000000000011"
    assert handler_lines[0]["logging.googleapis.com/trace_sampled"] is True


def test_an_oversized_trace_span_is_bounded_not_an_error() -> None:
    # int() refuses strings of more than 4,300 digits: such a header made every route 500.
    trace = "a" * 32
    assert parse_trace_header(f"{trace}/{'9' * 4_400};o=1") is None
    assert parse_trace_header(f"{trace}/{'9' * 25};o=1") == Trace(trace, None, False)
    assert parse_trace_header(f"{trace}/123;o=1") == Trace(trace, f"{123:016x}", True)
