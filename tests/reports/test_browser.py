"""/report in headless Chromium (Debian's package, driven by Playwright): what a person sees."""

from __future__ import annotations

import os
import shutil
import tempfile
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
# The README's pictures are taken by these tests, but only written into docs/ when asked
# (`make screenshots`): a test run must not dirty the checkout.
SHOTS = Path(os.environ.get("DRIFTLINE_SCREENSHOTS") or tempfile.mkdtemp(prefix="driftline-shots-"))
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


@pytest.fixture(scope="module")
def demo_week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo week, monitored once and served for every test of this module."""
    directory = tmp_path_factory.mktemp("demo") / "demo"
    run_demo(directory, per_day=600, progress=lambda _: None)
    base, server, thread = _serve_dir(directory)
    yield base
    server.should_exit = True  # type: ignore[attr-defined]
    thread.join(10)  # type: ignore[attr-defined]
    service.close_stores()


DRIFT_DAY = "wheel-assembly-20261120T0000Z-24h"  # day 5: the new tire batch at full strength


def test_report_of_a_demo_week(browser, demo_week: str) -> None:  # type: ignore[no-untyped-def]
    base = demo_week
    page = browser.new_page(viewport={"width": 1280, "height": 1800})  # type: ignore[attr-defined]
    page.goto(f"{base}/report")
    rows = page.locator("#verdicts tr[data-feature]")
    assert rows.count() == 15  # 13 features, the prediction and the label
    assert page.locator("#verdicts tr[data-feature='fz_mean'] .badge").inner_text() == "ok"  # the batch is gone
    assert page.locator("#trends svg").count() >= 14  # drift share + one per feature (+ performance)
    history = page.locator("#history a")
    assert history.count() == 6
    page.screenshot(path=str(SHOTS / "report.png"), full_page=False)
    # Each run's page links its own Evidently report, and the link works.
    history.nth(1).click()
    page.wait_for_load_state()
    assert page.locator("#verdicts tr.drift").count() >= 6  # day 5: the new tire batch
    link = page.locator("#evidently")
    href = link.get_attribute("href")
    assert href and href.endswith("/evidently")
    evidently = page.context.request.get(base + href)
    assert evidently.ok and "root_metric_" in evidently.text()


def test_overview_lists_the_model_with_its_state(browser, demo_week: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1440, "height": 900})  # type: ignore[attr-defined]
    page.goto(f"{demo_week}/")
    row = page.locator("#models tr[data-model='wheel-assembly']")
    assert row.count() == 1
    assert row.get_attribute("data-status") == "ok"  # day 7: the batch is gone
    assert "wheel-assembly" in row.locator("a").inner_text()
    assert page.locator("#overview-trends .plot .xtick").count() > 0  # the trend drew its dated axis
    page.screenshot(path=str(SHOTS / "overview-1440.png"))
    row.locator("a").click()
    page.wait_for_load_state()
    assert page.locator("#verdicts").count() == 1


def _dated(page, selector: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The tick labels of each chart's x axis under `selector`, asserting each is a date axis."""
    plots = page.locator(f"{selector} .plot[data-x=date]")
    assert plots.count() > 0
    ticks = []
    for i in range(plots.count()):
        labels = plots.nth(i).locator(".xaxislayer-above .xtick text").all_text_contents()
        assert labels, f"chart {i} under {selector} has no x tick labels"
        ticks += labels
    return ticks


def test_drift_day_headline_and_charts(browser, demo_week: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1440, "height": 900})  # type: ignore[attr-defined]
    response = page.goto(f"{demo_week}/report/{DRIFT_DAY}")
    assert response.ok and len(response.body()) < 1024 * 1024
    headline = page.locator("#headline li.sev-feature")
    said = {headline.nth(i).get_attribute("data-subject"): (headline.nth(i).get_attribute("data-direction"),
                                                           headline.nth(i).inner_text())
            for i in range(headline.count())}
    for name in ("fz_mean", "fz_last", "tz_mean", "tz_last", "fz_range"):
        direction, text = said[name]
        assert direction in ("up", "down") and f"{name} {direction} " in text and " std" in text, text
    assert said["tire_type"][0] == "new" and "R18-eco" in said["tire_type"][1]
    assert "predictions shifted" in page.locator("#headline").inner_text()
    assert "joint classifier" in page.locator("#dataset-drift").inner_text()
    # Each feature's distribution chart, and the charts over time, on dated axes.
    for name in ("fz_mean", "tire_type"):
        dist = page.locator(f"#distributions figure[data-feature='{name}'] .plot")
        assert dist.locator(".bars path").count() > 0, name
    assert page.locator("#distributions figure").count() == 15  # 13 features, the prediction and the label
    months = [t for t in _dated(page, "#trends") if "Nov" in t]
    assert months, "the over-time axes show no dates"
    assert any("Nov" in t for t in _dated(page, "#performance-trends"))
    legend = page.locator("#performance-trends figure[data-metric='accuracy'] .legendtext").all_text_contents()
    assert {"realized", "estimated (no labels)", "reference", "label coverage"} <= set(legend)
    assert "reference band" in legend  # the reference value's own interval
    page.screenshot(path=str(SHOTS / "report-drift-day-1440.png"))
    page.locator("#distributions").screenshot(path=str(SHOTS / "report-distributions-1440.png"))
    phone = browser.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    phone.goto(f"{demo_week}/report/{DRIFT_DAY}")
    assert phone.locator("#headline li").count() >= 6
    phone.screenshot(path=str(SHOTS / "report-drift-day-390.png"))


def test_each_verdict_row_says_its_smallest_detectable_change(browser, demo_week: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(f"{demo_week}/report/{DRIFT_DAY}")
    rows = page.locator("#verdicts tr[data-feature]")
    assert rows.count() >= 13
    for i in range(rows.count()):
        said = rows.nth(i).locator("td.mdc").inner_text()
        if "insufficient data" in rows.nth(i).inner_text():
            assert said == "—"  # nothing was decided, so nothing could be seen
            continue
        assert said.startswith("at ") and " rows this window can only see " in said, rows.nth(i).inner_text()
    numeric = page.locator("#verdicts tr[data-feature='fz_mean'] td.mdc").inner_text()
    assert "location shift of ≥ " in numeric and " std" in numeric
    categorical = page.locator("#verdicts tr[data-feature='tire_type'] td.mdc").inner_text()
    assert "share of ≥ " in categorical and "points" in categorical and "new values in ≥ " in categorical
    page.locator("#verdicts tr[data-feature='fz_mean'] a").click()
    page.wait_for_load_state()
    assert " rows this window can only see " in page.locator("#feature-history td.mdc").first.inner_text()


def test_plotly_is_served_once_with_caching_headers(browser, demo_week: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()  # type: ignore[attr-defined]
    scripts: list[str] = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    page.goto(f"{demo_week}/report/{DRIFT_DAY}")
    assert len(scripts) == 1 and scripts[0].startswith(demo_week)  # nothing from a CDN
    js = page.context.request.get(scripts[0])
    assert js.ok and "immutable" in js.headers["cache-control"] and "max-age=31536000" in js.headers["cache-control"]
    assert js.headers["content-type"].startswith("text/javascript")


def test_feature_view(browser, demo_week: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(f"{demo_week}/report/{DRIFT_DAY}")
    page.locator("#verdicts tr[data-feature='fz_mean'] a").click()
    page.wait_for_load_state()
    assert "fz_mean down" in page.locator("#feature-headline").inner_text()
    assert page.locator("#feature-history tr.drift").count() >= 1
    assert page.locator("#distributions figure").count() == 1 and page.locator("#trends figure").count() == 1
    assert page.locator("#feature-alerts li").count() >= 1
    assert page.context.request.get(f"{demo_week}/report/{DRIFT_DAY}/feature/nope").status == 404


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
        response = page.goto(f"{base}/report")  # its speed is bench/scale.py's to measure, not a test's
        page.wait_for_load_state("load")
        body = response.body()
        assert "10,000,000 rows" in page.content()
        assert len(body) < 5 * 1024 * 1024
        assert len(body) < 1024 * 1024  # the run page, charts included: Plotly itself is a separate cached file
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(10)  # type: ignore[attr-defined]
        service.close_stores()
