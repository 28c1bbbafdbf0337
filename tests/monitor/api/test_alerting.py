"""POST/GET/DELETE /silences and POST /incidents/ack under a real uvicorn, runner-authorised."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from monitor.api import wiring as service
from monitor.api.app import create_app
from monitor.config import Settings
from monitor.config.model import ModelConfig
from monitor.pipeline.models import load_models
from monitor.schema.alerting import Incident
from tests.conftest import write_config
from tests.monitor.api.test_app import _free_port, serve

TOKEN = "runner-token-0123456789abcdef"
RUNNER = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[httpx.Client, ModelConfig]]:
    write_config(tmp_path)
    app = create_app(Settings(config_dir=str(tmp_path), auth_mode="local-token", auth_token=TOKEN))
    server, thread = serve(app, port := _free_port())
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        yield client, load_models(tmp_path)["wheel-assembly"]
    server.should_exit = True
    thread.join(10)
    service.close_stores()


def test_silences_are_added_listed_and_expired_by_a_runner(api: tuple[httpx.Client, ModelConfig]) -> None:
    client, _ = api
    body = {"model": "wheel-assembly", "feature": "tire_type", "for": "3d", "reason": "new tire batch"}
    assert client.post("/silences", json=body).status_code == 401
    made = client.post("/silences", json=body, headers=RUNNER)
    assert made.status_code == 201, made.text
    s = made.json()
    assert (s["subject"], s["rule"], s["reason"], s["active"]) == ("tire_type", "*", "new tire batch", True)
    assert s["created_by"]  # who: the authenticated principal
    assert client.get("/silences").status_code == 401
    listed = client.get("/silences", params={"model": "wheel-assembly"}, headers=RUNNER).json()["silences"]
    assert [x["id"] for x in listed] == [s["id"]]
    ended = client.delete(f"/silences/{s['id']}", headers=RUNNER)
    assert ended.status_code == 200 and ended.json()["active"] is False
    assert client.get("/silences", headers=RUNNER).json()["silences"] == []
    assert [x["id"] for x in client.get("/silences", params={"all": "true"}, headers=RUNNER).json()["silences"]] \
        == [s["id"]]
    assert client.delete("/silences/nope", headers=RUNNER).status_code == 404


def test_a_silence_needs_a_reason_and_a_known_model(api: tuple[httpx.Client, ModelConfig]) -> None:
    client, _ = api
    no_reason = client.post("/silences", json={"model": "wheel-assembly", "for": "1h", "reason": " "}, headers=RUNNER)
    assert no_reason.status_code == 400 and "reason" in no_reason.text
    unknown = client.post("/silences", json={"model": "nope", "for": "1h", "reason": "x"}, headers=RUNNER)
    assert unknown.status_code == 404


def test_an_open_incident_is_acknowledged_by_a_runner(api: tuple[httpx.Client, ModelConfig]) -> None:
    client, cfg = api
    state = service.open_store(cfg).alert_state()
    state.save_incidents([Incident(cfg.model, "feature_drift", "features", "open", "warn", T0, T0, "warn", T0, "k")])
    body = {"model": cfg.model, "rule": "feature_drift"}
    assert client.post("/incidents/ack", json=body).status_code == 401
    acked = client.post("/incidents/ack", json=body, headers=RUNNER)
    assert acked.status_code == 200 and acked.json()["acknowledged_by"]
    assert state.incidents(cfg.model)[0].acknowledged_by == acked.json()["acknowledged_by"]
    missing = client.post("/incidents/ack", json={"model": cfg.model, "rule": "volume"}, headers=RUNNER)
    assert missing.status_code == 404 and "open: ['feature_drift/features']" in missing.text


def test_the_acknowledge_link_lands_on_an_authenticated_confirm_page(api: tuple[httpx.Client, ModelConfig]) -> None:
    client, cfg = api
    state = service.open_store(cfg).alert_state()
    state.save_incidents([Incident(cfg.model, "feature_drift", "features", "open", "warn", T0, T0, "warn", T0, "k")])
    assert client.get("/ack", params={"model": cfg.model}).status_code == 401
    page = client.get("/ack", params={"model": cfg.model}, headers=RUNNER)
    assert page.status_code == 200 and "<button type=submit>Acknowledge</button>" in page.text
    form = {"model": cfg.model, "rule": "feature_drift", "subject": "features"}
    assert client.post("/ack", data=form).status_code == 401
    cross = client.post("/ack", data=form, headers={**RUNNER, "Origin": "https://evil.example.com"})
    assert cross.status_code == 403 and state.incidents(cfg.model)[0].acknowledged_by == ""
    done = client.post("/ack", data=form, headers={**RUNNER, "Sec-Fetch-Site": "same-origin"})
    assert done.status_code == 200 and "id=done" in done.text and "badge state-acknowledged" in done.text
    assert state.incidents(cfg.model)[0].acknowledged_by
