"""Silences and acknowledgement for the CLI and the API: POST/GET/DELETE /silences, POST /incidents/ack (runner-authorised)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, urlparse

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from alerts.suppress import acknowledge, add_silence, expire_silence, silence_view
from monitor.api import wiring as service
from monitor.config import ModelConfig
from monitor.config.common import Duration
from monitor.errors import ConfigError
from monitor.schema.alerting import Incident
from reports.alert_states import ack_page

Clock = Callable[[], datetime]


def _now(clock: Clock | None) -> datetime:
    return (clock or (lambda: datetime.now(UTC)))()


def incident_view(i: Incident) -> dict[str, Any]:
    """An incident as the CLI and the API show it."""
    return {"model": i.model, "rule": i.rule, "subject": i.subject, "status": i.status, "severity": i.severity,
            "opened_at": i.opened_at.isoformat(), "acknowledged_by": i.acknowledged_by,
            "acknowledged_at": i.acknowledged_at.isoformat() if i.acknowledged_at else None}


def silence(cfg: ModelConfig, *, duration: timedelta, reason: str, by: str, rule: str = "", subject: str = "",
            clock: Clock | None = None) -> dict[str, Any]:
    """A new silence of one model, from now."""
    state = service.open_store(cfg).alert_state()
    made = add_silence(state, cfg.model, duration=duration, reason=reason, by=by, now=_now(clock),
                       rule=rule, subject=subject)
    return silence_view(made, _now(clock))


def silences(cfg: ModelConfig, *, include_ended: bool = False, clock: Clock | None = None) -> list[dict[str, Any]]:
    """The model's silences, newest first: the active ones, or all."""
    now = _now(clock)
    return [silence_view(s, now) for s in service.open_store(cfg).alert_state().silences(cfg.model)
            if include_ended or s.ends_at > now]


def expire(configs: dict[str, ModelConfig], silence_id: str, clock: Clock | None = None) -> dict[str, Any] | None:
    """Ends a silence of any configured model now; None when there is no such silence."""
    for cfg in configs.values():
        ended = expire_silence(service.open_store(cfg).alert_state(), cfg.model, silence_id, _now(clock))
        if ended is not None:
            return silence_view(ended, _now(clock))
    return None


def ack(cfg: ModelConfig, rule: str, subject: str | None, by: str, clock: Clock | None = None) -> dict[str, Any]:
    """Acknowledges one open incident of a model, and tells PagerDuty (if configured) through the outbox."""
    from alerts.channels import build_notifiers
    from alerts.engine import notify_acknowledged

    state = service.open_store(cfg).alert_state()
    incident = acknowledge(state, cfg.model, rule, subject, by=by, now=_now(clock))
    if cfg.alerts.enabled and cfg.channels.pagerduty is not None:
        notify_acknowledged(incident, cfg.alerts, state, build_notifiers(cfg.channels), _now(clock))
    return incident_view(incident)


class SilenceIn(BaseModel):
    """POST /silences: what to mute, for how long ("3d", "6h"), and why."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    model: str
    rule: str = ""
    feature: str = ""
    duration: Duration = Field(alias="for")
    reason: str


class AckIn(BaseModel):
    """POST /incidents/ack: which open incident (the subject may be left out when the rule has one)."""

    model_config = ConfigDict(extra="forbid")
    model: str
    rule: str
    subject: str | None = None


def _same_origin(request: Request) -> bool:
    """A browser's form POST from our own page (a cross-site one could ride a reader's IAP cookie)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    return origin is None or urlparse(origin).netloc == request.headers.get("host")


def router(configs: dict[str, ModelConfig], runner: Any, reader: Any = None,
           clock: Clock | None = None) -> APIRouter:
    """The routes: the API behind the runner check; the confirm page (GET/POST /ack) for people who read
    the report (`runner`, `reader` are their Depends)."""
    api = APIRouter()

    def model(name: str) -> ModelConfig:
        if name not in configs:
            raise HTTPException(404, f"unknown model; configured: {sorted(configs)}")
        return configs[name]

    @api.post("/silences", status_code=201)
    def post_silence(body: SilenceIn, who: Any = runner) -> dict[str, Any]:
        return silence(model(body.model), duration=body.duration, reason=body.reason, by=who.email,
                       rule=body.rule, subject=body.feature, clock=clock)

    @api.get("/silences")
    def get_silences(_: Any = runner, name: Annotated[str | None, Query(alias="model")] = None,
                     ended: Annotated[bool, Query(alias="all")] = False) -> dict[str, Any]:
        chosen = [model(name)] if name else list(configs.values())
        return {"silences": [s for cfg in chosen for s in silences(cfg, include_ended=ended, clock=clock)]}

    @api.delete("/silences/{silence_id}")
    def delete_silence(silence_id: str, _: Any = runner) -> dict[str, Any]:
        ended = expire(configs, silence_id, clock)
        if ended is None:
            raise HTTPException(404, "no such silence")
        return ended

    @api.post("/incidents/ack")
    def post_ack(body: AckIn, who: Any = runner) -> dict[str, Any]:
        try:
            return ack(model(body.model), body.rule, body.subject, who.email, clock)
        except ConfigError as exc:
            raise HTTPException(404, str(exc)) from None

    if reader is not None:
        @api.get("/ack", response_class=HTMLResponse)
        def ack_form(name: Annotated[str, Query(alias="model")], _: Any = reader) -> str:
            return ack_page(name, service.open_incidents(model(name), service.open_store(model(name))))

        @api.post("/ack", response_class=HTMLResponse)
        async def ack_submit(request: Request, who: Any = reader) -> str:
            if not _same_origin(request):
                raise HTTPException(403, "acknowledge from Driftline's own page")
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            cfg = model(form.get("model", ""))
            try:
                done = ack(cfg, form.get("rule", ""), form.get("subject") or None, who.email, clock)
            except ConfigError as exc:
                raise HTTPException(404, str(exc)) from None
            return ack_page(cfg.model, service.open_incidents(cfg, service.open_store(cfg)), done)

    return api
