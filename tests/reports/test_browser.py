"""/report in headless Chromium (Debian's package, driven by Playwright): what a person sees."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from monitor.api import wiring as service
from monitor.api.app import create_app
from monitor.config import Settings
from monitor.demo.walkthrough import run_demo
from monitor.sql.queries import Query
from tests.monitor.api.test_app import _free_port, serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium package is not installed"),
]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _serve_dir(directory: Path) -> tuple[str, object, object]:
    app = create_app(Settings(config_dir=str(directory), auth_mode="local-open"))
    port = _free_port()
    server, thread = serve(app, port)
    return f"http://127.0.0.1:{port}", server, thread


def test_report_of_a_demo_week(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_demo(tmp_path / "demo", per_day=600, progress=lambda _: None)
    base, server, thread = _serve_dir(tmp_path / "demo")
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1800})  # type: ignore[attr-defined]
        page.goto(f"{base}/report")
        rows = page.locator("#verdicts tr[data-feature]")
        assert rows.count() == 15  # 13 features, the prediction and the label
        assert page.locator("#verdicts tr[data-feature='fz_mean'] .badge").inner_text() == "ok"  # the batch is gone
        assert page.locator("#trends svg").count() >= 14  # drift share + one per feature (+ performance)
        history = page.locator("#history a")
        assert history.count() == 6
        page.screenshot(path=str(ROOT / "docs" / "report.png"), full_page=False)
        # Each run's page links its own Evidently report, and the link works.
        history.nth(1).click()
        page.wait_for_load_state()
        assert page.locator("#verdicts tr.drift").count() >= 6  # day 5: the new tire batch
        link = page.locator("#evidently")
        href = link.get_attribute("href")
        assert href and href.endswith("/evidently")
        evidently = page.context.request.get(base + href)
        assert evidently.ok and "root_metric_" in evidently.text()
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(10)  # type: ignore[attr-defined]
        service.close_stores()


def test_report_of_a_ten_million_row_window_stays_small(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from monitor.config import load_model_config
    from monitor.demo import simulate
    from monitor.pipeline.run import run_window
    from tests.conftest import write_config

    path = write_config(tmp_path, report="{evidently: true, sample_rows: 20000}")
    cfg = load_model_config(path)
    store = service.open_store(cfg)
    store.insert_frame(cfg.reference_table, simulate.reference(20_000))
    # 10,000,000 logged rows generated inside DuckDB: the page must not grow with them.
    cols = ", ".join(f"{c} + random() * 0.001 AS {c}" for c in simulate.feature_names())
    store.query(Query(
        f"CREATE TABLE predictions AS SELECT 'r' || i AS request_id, "
        f"TIMESTAMP '2026-11-16' + to_microseconds(CAST(i * 8.64 AS BIGINT) * 1000) AS ts, "
        f"'wheel-assembly' AS model_name, 'v1' AS model_version, {cols}, tire_type, probability, predicted_class "
        f"FROM range(10000000) AS t(i), (SELECT * FROM reference_wheel_assembly USING SAMPLE 1 ROWS) AS s"))
    run_window(cfg, store, datetime(2026, 11, 17))
    base, server, thread = _serve_dir(tmp_path)
    try:
        page = browser.new_page()  # type: ignore[attr-defined]
        started = time.perf_counter()
        response = page.goto(f"{base}/report")
        page.wait_for_load_state("load")
        seconds = time.perf_counter() - started
        body = response.body()
        assert "10,000,000 rows" in page.content()
        assert len(body) < 5 * 1024 * 1024
        assert seconds < 3.0, f"/report took {seconds:.2f}s"
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(10)  # type: ignore[attr-defined]
        service.close_stores()
