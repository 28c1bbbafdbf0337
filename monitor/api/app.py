"""The HTTP API: POST /run for Cloud Scheduler, /report pages, /runs, /metrics, /healthz."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from monitor.api import alerting
from monitor.api import wiring as service
from monitor.api.auth import Authenticator
from monitor.config import ModelConfig, Settings, defaults, get_settings
from monitor.errors import (
    ConfigError,
    DriftlineError,
    StoreError,
    StoreUnavailable,
    TableNotFound,
    UnsafeIdentifier,
)
from monitor.logs import TraceMiddleware, configure_logging
from monitor.pipeline.failures import RunFailure
from monitor.pipeline.models import load_models
from monitor.schema.summary import RunSummary
from reports import charts, feature, overview, pages

log = logging.getLogger(__name__)


class State:
    """What the app loaded at start-up: the settings and every model's config."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.configs: dict[str, ModelConfig] = load_models(settings.config_dir)
        service.register(self.configs)
        _check_at_start(self.configs)


def _check_at_start(configs: dict[str, ModelConfig]) -> None:
    """`driftline check` of the schema at start-up, as warnings: tables may only appear with the first logged rows."""
    from monitor.pipeline.models import check_models

    try:
        for line in check_models(configs, service.open_store, scan=False):  # the schema only: no scans
            log.warning("driftline check: %s", line)
    except Exception as exc:  # noqa: BLE001 - start-up must not fail on a check; the run will say it again
        log.warning("driftline check could not run at start-up: %s: %s", type(exc).__name__, exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; a bad config or auth setting fails here, at start-up, naming the field."""
    state = State(settings or get_settings())
    configure_logging(state.settings.log_level, json=state.settings.log_json, project_id=state.settings.project_id)
    auth = Authenticator(state.settings.auth)
    deployed = state.settings.auth.mode == "google"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close_stores()

    # Deployed, the API's own schema pages stay closed like everything but /healthz.
    docs = {"docs_url": None, "redoc_url": None, "openapi_url": None} if deployed else {}
    app = FastAPI(title="Driftline", version="0.1.0", lifespan=lifespan, **docs)  # type: ignore[arg-type]
    app.add_middleware(TraceMiddleware)
    app.state.driftline = state
    # Dependencies as defaults: the routes are closures, so string annotations can't name local aliases.
    runner, reader = Depends(auth.runner), Depends(auth.reader)

    @app.exception_handler(DriftlineError)
    async def _driftline_error(request: Request, exc: DriftlineError) -> JSONResponse:
        # 503 when a retry may succeed (store down, or a table `driftline init` or the first logged
        # rows will create) so Cloud Scheduler retries; 500 for other store errors; 400 otherwise.
        if isinstance(exc, (StoreUnavailable, TableNotFound)):
            status = 503
        elif isinstance(exc, StoreError):
            status = 500
        else:
            status = 400
        log.error("%s: %s", type(exc).__name__, exc)
        return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=status)

    app.include_router(alerting.router(state.configs, runner, reader))

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        # async: answered on the event loop, so a thread pool full of waiting runs cannot delay it.
        # Open to anyone: deployed, it does not tell which models are watched.
        return {"status": "ok"} if deployed else {"status": "ok", "models": sorted(state.configs)}

    @app.post("/run")
    def run(_: Any = runner, model: str | None = None, at: datetime | None = None) -> Any:
        if model is not None and model not in state.configs:
            raise ConfigError(f"unknown model {model!r}; configured: {sorted(state.configs)}")
        service.check_at(state.configs, at, model)  # outside [first logged row, now]: 400 with the range
        failures: list[RunFailure] = []
        summaries = service.run(state.configs, at=at, model=model, public_url=state.settings.public_url,
                                report_dir=state.settings.report_dir, failures=failures, reports="background")
        body = [s.model_dump(mode="json") for s in summaries] + [f.model_dump() for f in failures]
        retry = [f for f in failures if f.retryable]
        if retry:
            # Only a failure a retry can cure asks Cloud Scheduler to retry; the runs that succeeded are
            # stored, so the retry returns them without running them again.
            return JSONResponse({"error": retry[0].error, "detail": retry[0].detail, "model": retry[0].model,
                                 "phase": retry[0].phase, "results": body}, status_code=503)
        busy = [f for f in failures if f.status == "in_progress"]
        if busy:
            # Another caller (a Cloud Run instance, a manual trigger) is running the window: its result
            # will be stored, and a retry returns it.
            return JSONResponse({"error": "RunInProgress", "detail": busy[0].detail, "model": busy[0].model,
                                 "results": body}, status_code=409)
        return body

    @app.post("/ingest/{target}")
    async def ingest_file(target: Literal["predictions", "labels", "reference"], request: Request, model: str,
                          filename: str = "upload.csv", _: Any = runner) -> Any:
        # `driftline ingest` sends its file here while this service holds the DuckDB file (monitor/api/forward.py).
        from starlette.concurrency import run_in_threadpool

        from monitor.pipeline.ingest import ingest

        if model not in state.configs:
            raise HTTPException(404, f"unknown model; configured: {sorted(state.configs)}")
        suffix = Path(filename).suffix.lower()
        if suffix not in (".csv", ".parquet", ".pq"):
            raise HTTPException(400, "filename must end in .csv or .parquet")
        cfg = state.configs[model]
        with tempfile.TemporaryDirectory(prefix="driftline-ingest-") as folder:
            path = Path(folder) / f"{Path(filename).stem[:100] or 'upload'}{suffix}"
            with path.open("wb") as out:
                async for block in request.stream():  # to disk as it arrives: memory does not grow with the file
                    out.write(block)
            report = await run_in_threadpool(ingest, service.open_store(cfg), cfg, target, path)
        return {**report.as_dict(), "failure": report.failure(defaults.MAX_REJECTED_SHARE)}

    def _summaries(model: str | None, limit: int, offset: int) -> list[RunSummary]:
        if model is not None and model not in state.configs:
            raise HTTPException(404, f"unknown model; configured: {sorted(state.configs)}")
        out: list[RunSummary] = []
        for cfg in state.configs.values():
            if model is None or cfg.model == model:
                store = service.open_store(cfg)
                out += [RunSummary.model_validate_json(r.summary_json)
                        for r in store.list_runs(cfg.model, limit=limit + offset)]
        out.sort(key=lambda s: (s.window.start, s.model), reverse=True)
        return out[offset:offset + limit]

    @app.get("/runs")
    def runs(_: Any = reader, model: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50,
             offset: Annotated[int, Query(ge=0, le=defaults.MAX_RUNS_OFFSET)] = 0) -> dict[str, Any]:
        items = _summaries(model, limit, offset)
        return {"runs": [s.model_dump(mode="json") for s in items], "limit": limit, "offset": offset,
                "next_offset": offset + limit if len(items) == limit else None}

    def _find(run_id: str) -> tuple[ModelConfig, RunSummary]:
        for cfg in state.configs.values():
            rec = service.open_store(cfg).get_run(run_id)
            if rec is not None and rec.model == cfg.model:  # models may share one store
                return cfg, RunSummary.model_validate_json(rec.summary_json)
        raise HTTPException(404, "no such run")

    def _render(cfg: ModelConfig, s: RunSummary) -> str:
        store = service.open_store(cfg)
        history = [RunSummary.model_validate_json(r.summary_json) for r in store.list_runs(cfg.model, limit=60)
                   if r.run_id != s.run_id and r.window_start < s.window.start.replace(tzinfo=None)]
        url = f"/report/{s.run_id}/evidently" if service.report_file(s) else None
        error = None if url else service.report_error(cfg, s, state.settings.report_dir)
        pending = not url and not error and service.report_pending(s)  # built off the run's path: start it now
        incidents = service.open_incidents(cfg, store)
        return pages.run_page(s, history, evidently_url=url, open_incidents=incidents, evidently_error=error,
                              evidently_pending=pending)

    @app.get("/", response_class=HTMLResponse)
    def home(_: Any = reader) -> str:
        rows = []
        for cfg in state.configs.values():
            store = service.open_store(cfg)
            runs = [RunSummary.model_validate_json(r.summary_json) for r in store.list_runs(cfg.model, limit=30)]
            runs.sort(key=lambda r: r.window.start)
            rows.append(overview.ModelRow(cfg.model, runs, service.open_incidents(cfg, store)))
        return overview.overview_page(rows)

    @app.get(charts.PLOTLY_URL)
    def plotly_js(_: Any = reader) -> FileResponse:
        # Guarded like the pages that load it. Versioned URL: the file never changes under it, so browsers
        # keep it for a year ("private": a shared cache must not serve it to someone not let in).
        return FileResponse(charts.plotly_js(), media_type="text/javascript",
                            headers={"Cache-Control": "private, max-age=31536000, immutable"})

    @app.get("/report", response_class=HTMLResponse)
    def report(_: Any = reader, model: str | None = None) -> str:
        latest = _summaries(model, 1, 0) if model else [x for m in state.configs for x in _summaries(m, 1, 0)]
        if not latest:
            return pages.empty_page(model)
        if len(latest) > 1 and model is None:
            return pages.index_page(latest)
        return _render(state.configs[latest[0].model], latest[0])

    @app.get("/report/{run_id}", response_class=HTMLResponse)
    def report_run(run_id: str, _: Any = reader) -> str:
        cfg, s = _find(run_id)
        return _render(cfg, s)

    @app.get("/report/{run_id}/feature/{name}", response_class=HTMLResponse)
    def report_feature(run_id: str, name: str, _: Any = reader) -> str:
        cfg, s = _find(run_id)
        if name not in {v.name for v in s.features} | {"prediction", "label"}:
            raise HTTPException(404, "no such feature in this run")
        store = service.open_store(cfg)
        history = [RunSummary.model_validate_json(r.summary_json) for r in store.list_runs(cfg.model, limit=60)
                   if r.window_start <= s.window.start.replace(tzinfo=None)]
        return feature.feature_page(s, name, history, service.open_incidents(cfg, store))

    @app.get("/report/{run_id}/evidently")
    def evidently(run_id: str, _: Any = reader) -> FileResponse:
        _, s = _find(run_id)
        path = service.report_file(s)
        if path is None and service.report_pending(s):
            raise HTTPException(503, "this run's Evidently report is being built; retry in a few seconds",
                                headers={"Retry-After": "5"})
        if path is None:
            raise HTTPException(404, "this run has no Evidently report")
        return FileResponse(path, media_type="text/html")

    @app.get("/metrics")
    def metrics(_: Any = reader) -> Response:
        from alerts.prometheus import CONTENT_TYPE, render_prometheus

        latest = [x for m in state.configs for x in _summaries(m, 1, 0)]
        return Response(render_prometheus(latest), media_type=CONTENT_TYPE)

    return app


def _app_from_env() -> FastAPI:
    try:
        return create_app()
    except (ConfigError, UnsafeIdentifier) as exc:
        raise SystemExit(f"driftline: {exc}") from None


def __getattr__(name: str) -> Any:
    # `uvicorn monitor.api.app:app` builds the app on first access, not at import (tests import freely).
    if name == "app":
        return _app_from_env()
    raise AttributeError(name)
