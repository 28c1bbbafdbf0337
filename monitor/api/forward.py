"""`driftline ingest` and `run` while `driftline serve` holds the DuckDB file: sent to the running service.

DuckDB lets one process write a database file. `serve` announces itself beside each DuckDB file it
opens (`<file>.serve.json`: its URL and pid) and removes the note when it stops; a CLI command that
finds the file locked and a live service in the note sends the work to that service's API instead
(POST /run, POST /ingest/{target} with the file as the body) and prints the same result.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.config import ModelConfig, Settings
from monitor.errors import IngestError, StoreUnavailable
from monitor.schema.summary import RunSummary

NOTE_SUFFIX = ".serve.json"
_TIMEOUT = 3600.0  # a run or an ingest of a large file may take long; the service does the work


def _note(cfg: ModelConfig) -> Path | None:
    if cfg.store.kind != "duckdb":
        return None
    return Path(f"{cfg.resolve(cfg.store.path).resolve()}{NOTE_SUFFIX}")


def announce(configs: dict[str, ModelConfig], url: str) -> list[Path]:
    """Write the note beside each DuckDB file the service opens; the paths, for `withdraw`."""
    notes = {n for cfg in configs.values() if (n := _note(cfg)) is not None}
    for note in notes:
        note.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    return sorted(notes)


def withdraw(notes: list[Path]) -> None:
    for note in notes:
        note.unlink(missing_ok=True)


def running_service(cfg: ModelConfig) -> str | None:
    """The URL of a live `driftline serve` holding this model's DuckDB file, or None."""
    note = _note(cfg)
    if note is None or not note.exists():
        return None
    try:
        info = json.loads(note.read_text())
        os.kill(int(info["pid"]), 0)  # signal 0: only whether the process is alive
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(info["url"])


def _call(url: str, token: str | None, body: bytes | None = None, path: Path | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data: Any = body
    if path is not None:
        data = path.open("rb")  # streamed from the file, not read into memory
        headers["Content-Length"] = str(path.stat().st_size)
    request = urllib.request.Request(url, data=data if data is not None else b"", method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:  # noqa: S310 - our own service's URL
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:500]
        try:
            return json.loads(detail)
        except ValueError:
            raise StoreUnavailable(f"the running service at {url} answered HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise StoreUnavailable(f"the DuckDB file is locked and the running service at {url} did not answer: {exc}")\
            from None
    finally:
        if path is not None:
            data.close()


def service_holding(configs: dict[str, ModelConfig], model: str | None) -> str | None:
    """The URL of a running `driftline serve` when it holds the DuckDB file these models need (else None)."""
    from monitor.api import wiring as service

    for cfg in configs.values():
        if (model is None or cfg.model == model) and cfg.store.kind == "duckdb":
            try:
                service.open_store(cfg)
            except StoreUnavailable:
                url = running_service(cfg)
                if url is None:
                    raise
                return url
    return None


def _token() -> str | None:
    token = Settings(auth_mode="local-open").auth.bearer_token  # DRIFTLINE_AUTH_TOKEN, for a local-token service
    return token.get_secret_value() if token else None


def run(url: str, model: str | None, at: datetime | None) -> tuple[list[RunSummary], list[str], bool]:
    """POST /run on the running service: the summaries, one line per failed model, and whether a retry may cure it."""
    query = urllib.parse.urlencode({k: v for k, v in (("model", model), ("at", at and at.isoformat())) if v})
    body = _call(f"{url.rstrip('/')}/run" + (f"?{query}" if query else ""), _token())
    items = body.get("results", []) if isinstance(body, dict) else body
    summaries = [RunSummary.model_validate(i) for i in items if isinstance(i, dict) and "run_id" in i]
    errors = [f"{i.get('model')}: {i.get('error')}: {i.get('detail')}" for i in items
              if isinstance(i, dict) and "run_id" not in i]
    if isinstance(body, dict) and not items:
        errors.append(f"the running service at {url}: {body.get('error')}: {body.get('detail')}")
    return summaries, errors, isinstance(body, dict) and "results" in body


def ingest(url: str, model: str, target: str, path: Path) -> tuple[dict[str, Any], str | None]:
    """POST /ingest/{target} with the file as the body: the service's ingest report and its failure line."""
    if not path.exists():
        raise IngestError(f"{path}: no such file")
    query = urllib.parse.urlencode({"model": model, "filename": path.name})
    answer = _call(f"{url.rstrip('/')}/ingest/{target}?{query}", _token(), path=path)
    if not isinstance(answer, dict) or "rows_read" not in answer:
        detail = answer.get("detail", answer) if isinstance(answer, dict) else answer
        raise IngestError(f"the running service at {url} refused the ingest: {detail}")
    return answer, answer.pop("failure", None)


def serve(settings: Settings, host: str, port: int) -> None:
    """`driftline serve`: the app under uvicorn, announced beside its DuckDB files while it runs."""
    import uvicorn

    from monitor.api.app import create_app
    from monitor.logs import drop_plain_handlers

    app = create_app(settings)
    drop_plain_handlers()  # the CLI's basicConfig: the service installed its own, or each line shows twice
    notes = announce(app.state.driftline.configs, settings.public_url)
    try:
        # log_config=None: uvicorn's lines go through the service's handler too, in its format (JSON on Cloud Run).
        uvicorn.run(app, host=host, port=port, log_level="info", log_config=None)
    finally:
        withdraw(notes)
