"""A local BigQuery (the `bqemulator` package) in its own process, startable and stoppable on one port.

Run as a script it *is* the emulator process (with the offline workarounds applied); imported, it
gives `Emulator`, which launches that script and hands out `google.cloud.bigquery.Client`s.
The emulator runs in a subprocess, not a thread, so stopping it is a real outage to the client
(connection refused) and its CPU work does not share the test process's GIL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

TEST_PROJECT = "driftline-test"
_READY_TIMEOUT_S = 90.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Emulator:
    """One emulator process on a fixed port and data directory; `stop()` then `start()` keeps both."""

    def __init__(self, data_dir: Path, port: int | None = None, project: str = TEST_PROJECT) -> None:
        self.data_dir = Path(data_dir)
        self.port = port if port is not None else free_port()
        self.project = project
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path = self.data_dir / "emulator.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Launch the emulator process and wait until it answers the REST API."""
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        # Its Avro/ORC format extensions are downloaded from extensions.duckdb.org at boot;
        # there is no internet here and Driftline loads only CSV/Parquet/JSON.
        env["BQEMU_ENABLE_FORMAT_EXTENSIONS"] = "false"
        env.pop("BIGQUERY_EMULATOR_HOST", None)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--port", str(self.port),
               "--data-dir", str(self.data_dir), "--project", self.project]
        log = open(self._log_path, "ab")  # noqa: SIM115 - handed to the child, closed with it
        # cwd away from site-packages: bqemulator ships a top-level-looking `types` package.
        self._proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      cwd=str(self.data_dir))
        log.close()
        self._wait_ready()

    def stop(self) -> None:
        """Shut the emulator down gracefully (SIGTERM), killing it if it does not exit."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None

    def client(self) -> Any:
        """A `google.cloud.bigquery.Client` talking to this emulator, with no credentials."""
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(
            project=self.project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options=ClientOptions(api_endpoint=self.url),
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _wait_ready(self) -> None:
        probe = f"{self.url}/bigquery/v2/projects/{self.project}/datasets"
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"bqemulator exited with {self._proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(probe, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"bqemulator did not answer within {_READY_TIMEOUT_S}s:\n{self.log_tail()}")


# ---------------------------------------------------------------------------------------------
# The emulator process itself. Everything below runs only in the child, never in the tests, and
# patches the *emulator* (the fake server), never the google-cloud-bigquery client.
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def running(prefix: str) -> Iterator[tuple[Emulator, Path]]:
    """A fresh temp folder and an emulator started in it (for the benchmarks), stopped on the way out."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    emulator = Emulator(work / "emulator")
    emulator.start()
    try:
        yield emulator, work
    finally:
        emulator.stop()


def _apply_offline_workarounds() -> None:
    """Make bqemulator start offline and accept what the official client sends."""
    import bqemulator.server
    from bqemulator.api.routes import upload
    from bqemulator.storage.engine import DuckDBEngine

    class OfflineEngine(DuckDBEngine):
        def _load_spatial(self) -> None:
            # bqemulator insists on INSTALL spatial at boot (a download, fatal offline). Driftline
            # never uses GEOGRAPHY/ST_*, so the extension is skipped; those functions will fail here.
            # The same hook runs right after the connection opens, so it also carries the setting
            # below. DuckDB 1.3+ rejects `x -> expr` lambdas by default, and the emulator's
            # translation of RANGE_BUCKET emits exactly that; opting back in makes RANGE_BUCKET work.
            self.connection.execute("SET GLOBAL lambda_syntax='ENABLE_SINGLE_ARROW'")
            # DuckDB's compressed materialization narrows a sum's type from the statistics of an empty
            # table: a LEFT JOIN to a filtered, still empty labels table then fails with "INT128 ...
            # can't be cast ... INT8" on the first group of more than 127 rows. BigQuery has no such step.
            self.connection.execute("SET GLOBAL disabled_optimizers='compressed_materialization'")

    bqemulator.server.DuckDBEngine = OfflineEngine  # type: ignore[misc]

    # load_table_from_dataframe / load_table_from_file send the media part as '*/*' (the
    # client's default); real BigQuery takes it, the emulator's whitelist does not.
    if "*/*" not in upload._PERMITTED_MEDIA_CONTENT_TYPES:
        upload._PERMITTED_MEDIA_CONTENT_TYPES = (*upload._PERMITTED_MEDIA_CONTENT_TYPES, "*/*")

    # Real BigQuery de-duplicates streamed rows by insertId (best effort, about a minute); the
    # emulator ignores insertId. Without this a batch whose response was lost and which the logger
    # rightly retries would be counted twice here but not on BigQuery.
    original_create_app = bqemulator.server.create_app

    def create_app(context: Any) -> Any:
        app = original_create_app(context)
        app.add_middleware(_InsertIdDedup)
        app.add_middleware(_FailedQueryStatus)
        app.add_middleware(_StreamingBuffer)
        return app

    bqemulator.server.create_app = create_app  # type: ignore[assignment]


class _InsertIdDedup:
    """ASGI middleware: drop insertAll rows whose insertId this process has already accepted."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: dict[str, set[str]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/insertAll"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        seen = self.seen.setdefault(scope["path"], set())
        fresh_ids: set[str] = set()
        try:
            payload = json.loads(body)
            fresh = []
            for row in payload.get("rows", []):
                insert_id = row.get("insertId")
                if insert_id is None or (insert_id not in seen and insert_id not in fresh_ids):
                    fresh.append(row)
                    if insert_id is not None:
                        fresh_ids.add(insert_id)
            payload["rows"] = fresh
            body = json.dumps(payload).encode()
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
        except (ValueError, AttributeError):
            # Gzipped or malformed: passed on untouched for the emulator to decode or reject.
            headers = list(scope["headers"])
        sent = False
        status = 0

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def watch(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app({**scope, "headers": headers}, replay, watch)
        # Remembered only once accepted, so a rejected batch can be retried in full.
        if status == 200:
            seen.update(fresh_ids)


class _StreamingBuffer:
    """ASGI middleware: a table that received streamed rows reports a streaming buffer, as BigQuery's does.

    BigQuery's tables.get carries `streamingBuffer` while rows streamed with insertAll have not yet been
    moved into their partitions (minutes); the emulator never reports one. Here the buffer, once a
    table has been streamed to, never drains: what matters to Driftline is that it is reported.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.streamed: dict[str, tuple[int, int]] = {}  # table path -> (insertAll calls, oldest entry in ms)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path, method = scope.get("path", ""), scope.get("method")
        if scope["type"] != "http" or "/tables/" not in path or method not in ("GET", "POST"):
            await self.app(scope, receive, send)
            return
        table = path.removesuffix("/insertAll")
        if method == "POST" and path.endswith("/insertAll"):
            rows, oldest = self.streamed.get(table, (0, int(time.time() * 1000)))
            self.streamed[table] = (rows + 1, oldest)
            await self.app(scope, receive, send)
            return
        if method != "GET" or table not in self.streamed:  # tables.get of that table only
            await self.app(scope, receive, send)
            return
        def add_buffer(status: int, body: bytes) -> tuple[int, bytes]:
            try:
                payload = json.loads(body)
            except ValueError:
                return status, body
            if isinstance(payload, dict) and "tableReference" in payload:
                rows, oldest = self.streamed[table]
                payload["streamingBuffer"] = {"estimatedRows": str(rows), "estimatedBytes": "0",
                                              "oldestEntryTime": str(oldest)}
                body = json.dumps(payload).encode()
            return status, body

        await _rewritten(self.app, scope, receive, send, add_buffer)


class _FailedQueryStatus:
    """ASGI middleware: a failed jobs.query answers with an HTTP error, as BigQuery's does.

    The emulator answers 200 with the failure only in `errors`, which the official client's
    query_and_wait reads as an empty, successful result; BigQuery answers 400/404/403.
    """

    _STATUS: ClassVar[dict[str, int]] = {"notFound": 404, "accessDenied": 403, "quotaExceeded": 403, "rateLimitExceeded": 403}

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or not scope["path"].endswith("/queries"):
            await self.app(scope, receive, send)
            return
        await _rewritten(self.app, scope, receive, send, self._rewrite)

    def _rewrite(self, status: int, body: bytes) -> tuple[int, bytes]:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        errors = payload.get("errors") if status == 200 and isinstance(payload, dict) else None
        if errors:
            reason = str(errors[0].get("reason", "invalidQuery"))
            status = self._STATUS.get(reason, 400)
            body = json.dumps({"error": {"code": status, "message": errors[0].get("message", ""),
                                         "errors": errors, "status": "INVALID_ARGUMENT"}}).encode()
        return status, body


async def _rewritten(app: Any, scope: dict[str, Any], receive: Any, send: Any,
                     rewrite: Callable[[int, bytes], tuple[int, bytes]]) -> None:
    """Call the ASGI `app`, hold its response, send it once as `rewrite(status, body)` with a true length."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def hold(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                status, body = rewrite(int(start.get("status", 200)), b"".join(chunks))
                headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body, "more_body": False})
        else:
            await send(message)

    await app(scope, receive, hold)


def main(argv: list[str] | None = None) -> None:
    """Run one emulator process until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--project", default=TEST_PROJECT)
    args = parser.parse_args(argv)

    _apply_offline_workarounds()
    from bqemulator.config import LogLevel, PersistenceMode, Settings
    from bqemulator.server import EmulatorServer

    settings = Settings(
        rest_host="127.0.0.1",
        rest_port=args.port,
        grpc_host="127.0.0.1",
        grpc_port=0,
        # Persistent (a DuckDB file in data_dir) so a stop/start keeps datasets, tables and rows.
        persistence_mode=PersistenceMode.PERSISTENT,
        data_dir=args.data_dir,
        default_project_id=args.project,
        enable_format_extensions=False,
        log_level=LogLevel.WARNING,
    )
    EmulatorServer(settings).run_forever()


if __name__ == "__main__":
    main()
