"""The API under a real uvicorn on 127.0.0.1, spoken to over HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn

from monitor.api import wiring as service
from monitor.api.app import create_app
from monitor.config import Settings
from monitor.demo import simulate
from monitor.stores.duckdb import DuckDBStore
from tests.conftest import START, write_config

XSS = "<script>alert(1)</script>"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(app, port: int) -> tuple[uvicorn.Server, threading.Thread]:  # type: ignore[no-untyped-def]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return server, thread


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[httpx.Client, Path]]:
    write_config(tmp_path, report="{evidently: true, sample_rows: 500}")
    store = DuckDBStore(tmp_path / "driftline.duckdb")
    store.insert_frame("reference_wheel_assembly", simulate.reference(3000))
    logs, _ = simulate.traffic(3, 400, START, scenario="none")
    logs.loc[logs.index[-30:], "tire_type"] = XSS  # hostile data reaches the page as text
    store.insert_frame("predictions", logs)
    store.close()
    app = create_app(Settings(config_dir=str(tmp_path), auth_mode="local-open"))
    port = _free_port()
    server, thread = serve(app, port)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        yield client, tmp_path
    server.should_exit = True
    thread.join(10)
    service.close_stores()


def test_run_report_runs_and_health_over_http(api) -> None:  # type: ignore[no-untyped-def]
    client, _ = api
    assert client.get("/healthz").json() == {"status": "ok", "models": ["wheel-assembly"]}
    assert "No runs yet" in client.get("/report").text
    for day in (1, 2, 3):
        r = client.post("/run", params={"at": (START + timedelta(days=day)).isoformat()})
        assert r.status_code == 200, r.text
        [summary] = r.json()
        assert summary["model"] == "wheel-assembly" and summary["rows"] == 400
    again = client.post("/run", params={"at": (START + timedelta(days=3)).isoformat(), "model": "wheel-assembly"})
    assert again.json()[0]["run_id"] == summary["run_id"]
    page = client.get("/runs", params={"limit": 2})
    body = page.json()
    assert [r["window"]["start"][:10] for r in body["runs"]] == ["2026-11-18", "2026-11-17"]
    assert body["next_offset"] == 2
    assert len(client.get("/runs", params={"limit": 2, "offset": 2}).json()["runs"]) == 1
    # Evidently's report is built after the run is stored, in the background: the page says so until it is.
    report = client.get("/report")
    deadline = time.monotonic() + 120
    while "id=evidently-pending" in report.text and time.monotonic() < deadline:
        assert "is being built" in report.text and "id=evidently " not in report.text
        time.sleep(0.5)
        report = client.get("/report")
    assert report.status_code == 200
    html = report.text
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<table id=verdicts>" in html and "data-feature='fz_mean'" in html
    assert f"/report/{summary['run_id']}/evidently" in html
    evidently = client.get(f"/report/{summary['run_id']}/evidently")
    assert evidently.status_code == 200 and "root_metric_" in evidently.text  # Evidently's own HTML
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert 'model="wheel-assembly"' in metrics.text and "drift_share" in metrics.text
    assert 'source="estimated"' in metrics.text  # performance estimated before labels arrive
    assert client.get("/report/nope").status_code == 404
    assert client.post("/run", params={"model": "nope"}).status_code == 400


def test_store_trouble_is_503_so_the_scheduler_retries(api) -> None:  # type: ignore[no-untyped-def]
    _client, directory = api
    cfg = directory / "wheel-assembly.yaml"
    cfg.write_text(cfg.read_text() + "\npredictions: {table: missing_table}\n")
    app = create_app(Settings(config_dir=str(directory), auth_mode="local-open"))
    port = _free_port()
    server, thread = serve(app, port)
    try:
        r = httpx.post(f"http://127.0.0.1:{port}/run", params={"at": "2026-11-17T00:00:00"}, timeout=60)
        assert r.status_code == 503
        assert r.json()["error"] == "TableNotFound" and "missing_table" in r.json()["detail"]
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_page_escapes_feature_names_and_values() -> None:
    from monitor.schema.summary import FeatureQuality, FeatureVerdict, RunSummary, Window
    from reports.pages import run_page

    v = FeatureVerdict(name=XSS, kind="numerical", statistic="psi", value=0.5, threshold=0.1, drifted=True)
    s = RunSummary(run_id="r<1>", model="m", window=Window(start=datetime(2026, 1, 1), end=datetime(2026, 1, 2)),
                   rows=1, rows_rejected=0, features=[v], drift_share=1.0, dataset_drift=True,
                   prediction_drift=None, label_drift=None,
                   data_quality={XSS: FeatureQuality(null_rate=0, out_of_range_rate=0, unseen_values=[XSS])},
                   report_url="/report/r")
    html = run_page(s, [], evidently_url=None)
    assert "<script>" not in html and html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2


def test_two_models_sharing_a_store_each_get_their_own_page(tmp_path: Path) -> None:
    write_config(tmp_path, report="{evidently: false}")
    text = (tmp_path / "wheel-assembly.yaml").read_text()
    # The second model's first feature is an expression and its reference has no request ids.
    (tmp_path / "second.yaml").write_text(text.replace("model: wheel-assembly", "model: second").replace(
        "features:\n", "features:\n  - {name: fz_span, kind: numerical, expr: \"fz_max - fz_min\"}\n", 1))
    store = DuckDBStore(tmp_path / "driftline.duckdb")
    store.insert_frame("reference_wheel_assembly", simulate.reference(2000))
    store.insert_frame("reference_second", simulate.reference(2000))
    for model in ("wheel-assembly", "second"):
        logs, _ = simulate.traffic(1, 300, START, scenario="none", model=model)
        store.insert_frame("predictions", logs)
    store.close()
    app = create_app(Settings(config_dir=str(tmp_path), auth_mode="local-open"))
    port = _free_port()
    server, thread = serve(app, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            runs = client.post("/run", params={"at": (START + timedelta(days=1)).isoformat()})
            assert runs.status_code == 200, runs.text
            ids = {r["model"]: r["run_id"] for r in runs.json()}
            page = client.get(f"/report/{ids['second']}").text
            assert "fz_span" in page and "second —" in page
            assert "fz_span" not in client.get(f"/report/{ids['wheel-assembly']}").text
    finally:
        server.should_exit = True
        thread.join(10)
        service.close_stores()


def test_overview_feature_view_and_the_chart_library_over_http(api) -> None:  # type: ignore[no-untyped-def]
    from reports.charts import PLOTLY_URL

    client, _ = api
    assert "wheel-assembly" in client.get("/").text and "no data" in client.get("/").text
    [summary] = client.post("/run", params={"at": (START + timedelta(days=2)).isoformat()}).json()
    home = client.get("/")
    assert home.status_code == 200 and "data-model='wheel-assembly'" in home.text
    assert f"/report/{summary['run_id']}" in home.text and PLOTLY_URL in home.text
    page = client.get(f"/report/{summary['run_id']}")
    assert page.text.count("<script src=") == 1 and PLOTLY_URL in page.text  # the library once, no CDN
    assert "id=headline" in page.text and "id=distributions" in page.text
    assert len(page.content) < 1024 * 1024
    js = client.get(PLOTLY_URL)
    assert js.status_code == 200 and js.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert js.headers["content-type"].startswith("text/javascript") and b"plotly" in js.content[:2000].lower()
    feature = client.get(f"/report/{summary['run_id']}/feature/fz_mean")
    assert feature.status_code == 200 and "id=feature-history" in feature.text
    assert client.get(f"/report/{summary['run_id']}/feature/nope").status_code == 404


def test_one_broken_model_is_an_error_entry_and_the_others_run(api) -> None:  # type: ignore[no-untyped-def]
    _client, directory = api
    text = (directory / "wheel-assembly.yaml").read_text()
    (directory / "broken.yaml").write_text(text.replace("model: wheel-assembly", "model: broken")
                                           + "\nreference: {table: reference_wheel_assembly}\n"
                                           + "features: [{name: fz_maen, kind: numerical}]\n")
    app = create_app(Settings(config_dir=str(directory), auth_mode="local-open"))
    port = _free_port()
    server, thread = serve(app, port)
    try:
        r = httpx.post(f"http://127.0.0.1:{port}/run", params={"at": "2026-11-17T00:00:00"}, timeout=120)
        assert r.status_code == 200, r.text  # a config error: retrying would not help
        failed, = [e for e in r.json() if e.get("status") == "failed"]
        assert failed["model"] == "broken" and failed["phase"] == "check" and failed["error"] == "ConfigError"
        assert "features.0 (fz_maen)" in failed["detail"] and "(closest: fz_mean)" in failed["detail"]
        assert [e["model"] for e in r.json() if "run_id" in e] == ["wheel-assembly"]
    finally:
        server.should_exit = True
        thread.join(10)


def test_serve_start_up_logs_the_schema_check(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_config(tmp_path, report="{evidently: false}", labels="{table: labels, join_key: req_id, column: label}")
    store = DuckDBStore(tmp_path / "driftline.duckdb")
    store.insert_frame("reference_wheel_assembly", simulate.reference(500))
    logs, labels = simulate.traffic(1, 50, START, scenario="none")
    store.insert_frame("predictions", logs)
    store.upsert_labels("labels", labels, "request_id")
    store.close()
    try:
        with caplog.at_level("WARNING", logger="monitor.api.app"):
            create_app(Settings(config_dir=str(tmp_path), auth_mode="local-open"))  # starts all the same
        assert [r.getMessage() for r in caplog.records if "driftline check" in r.getMessage()] == [
            "driftline check: wheel-assembly: labels.join_key: no column req_id in labels (closest: request_id)"]
    finally:
        service.close_stores()
