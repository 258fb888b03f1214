"""The Streamlit dashboard: every page with data and empty (AppTest), and in a real browser."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.settings import PostgresSettings, Settings, load_settings
from tests.integration.conftest import Lake

pytestmark = pytest.mark.integration

APP_DIR = Path(__file__).resolve().parents[2] / "dashboard"
# What each page shows once its data has rendered (the browser test waits for it).
RENDERED = {
    "live_alerts": "[data-testid='stDataFrame']",
    "volume": "[data-testid='stVegaLiteChart']",
    "daily_reports": "[data-testid='stMetric']",
    "data_quality": "[data-testid='stDataFrame']",
    "pipeline_health": "[data-testid='stMetric']",
    "backtests": "[data-testid='stDataFrame']",
    "review_queue": "[data-testid='stDataFrame']",
    "payment_search": "[data-testid='stDataFrame']",
}
PAGES = {
    "live_alerts": "Live alerts",
    "volume": "Volume and alerts over time",
    "daily_reports": "Daily reports",
    "data_quality": "Data quality",
    "pipeline_health": "Pipeline health",
    "backtests": "Backtests",
    "review_queue": "Review queue",
    "payment_search": "Payment search",
}
EMPTY_DATABASE = "paystream_empty"


@pytest.fixture(scope="module")
def reported(lake: Lake) -> Lake:
    """The shared lake (its daily reports written) with one data-quality run and one backtest
    recorded."""
    from expectations.runner import new_run_id, record_outcomes, run_suites
    from spark_jobs.backtest_job import BacktestRequest, run_backtest_job

    record_outcomes(lake.settings, run_suites(lake.spark, lake.settings), new_run_id())
    run_backtest_job(lake.spark, lake.settings, BacktestRequest(lake.settings.rules_file))
    return lake


@pytest.fixture(scope="module")
def empty_env(live_services: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Env for a migrated but empty database and an empty lake."""
    from lakehouse.postgres_schema import migrate
    from lakehouse.stores.postgres import owner_connection

    conn = owner_connection(live_services)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {EMPTY_DATABASE}")
            cur.execute(f"CREATE DATABASE {EMPTY_DATABASE}")
    finally:
        conn.close()
    pg = live_services.postgres.model_dump()
    migrate(load_settings(postgres=PostgresSettings(**{**pg, "database": EMPTY_DATABASE})))
    empty = tmp_path_factory.mktemp("empty")
    return {"PAYSTREAM_POSTGRES__DATABASE": EMPTY_DATABASE, "PAYSTREAM_LAKE_ROOT": str(
        empty / "lake"), "PAYSTREAM_HOME": str(empty / "home")}  # no stored backtests either


def _run_page(page: str):  # type: ignore[no-untyped-def]
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(APP_DIR / "views" / f"{page}.py"), default_timeout=120)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.title[0].value == PAGES[page]
    return app


@pytest.mark.parametrize("page", list(PAGES))
def test_each_page_renders_with_data(reported: Lake, page: str) -> None:
    app = _run_page(page)
    if page == "volume":
        # The lake's events sit around a midnight at least 90 minutes ago: up to about 26
        # hours back, so the default 24-hour window misses them before 01:30 UTC.
        app.select_slider[0].set_value(72).run()
        assert not app.exception, [e.value for e in app.exception]
    assert not app.info, [i.value for i in app.info]
    if page == "live_alerts":
        alerts = app.dataframe[0].value
        assert len(alerts) > 0 and list(alerts["detected_at"]) == sorted(
            alerts["detected_at"], reverse=True)
        assert any(h.value.startswith("Alert ") for h in app.subheader)
    if page == "daily_reports":
        assert app.selectbox[0].options == [str(d) for d in sorted(reported.days, reverse=True)]
        assert app.metric[0].value != "0"
    if page == "data_quality":
        suites = set(app.dataframe[0].value["suite"])
        assert {"silver_transactions", "gold_alerts"} <= suites


def test_payment_search_finds_a_payment_its_alerts_and_the_users_payments(
        reported: Lake) -> None:
    from lakehouse.stores.postgres import owner_connection

    conn = owner_connection(reported.settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT a.transaction_id, a.user_id, t.merchant_id FROM payments.alerts a "
                        "JOIN payments.transactions t USING (transaction_id) "
                        "ORDER BY a.detected_at DESC LIMIT 1")
            transaction_id, user_id, merchant_id = cur.fetchone()
    finally:
        conn.close()
    app = _run_page("payment_search")
    assert len(app.dataframe[0].value) > 0  # the newest payments before any search
    app.text_input[0].input(transaction_id).run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.subheader[0].value == f"Payment {transaction_id}"
    assert list(app.dataframe[0].value["transaction_id"]) == [transaction_id]
    assert any(m.value.startswith("**Decision: ") for m in app.markdown)
    alerts = [f for f in (d.value for d in app.dataframe) if "alert_id" in f.columns]
    assert alerts and set(alerts[0]["transaction_id"]) == {transaction_id}
    recent = app.dataframe[-1].value
    assert set(recent["user_id"]) == {user_id} and transaction_id in set(recent["transaction_id"])
    assert list(recent["event_time"]) == sorted(recent["event_time"], reverse=True)

    app.text_input[0].input(merchant_id).run()
    assert app.subheader[0].value == f"Newest payments of merchant {merchant_id}"
    assert set(app.dataframe[0].value["merchant_id"]) == {merchant_id}
    app.text_input[0].input("no-such-id").run()
    assert "No payment, user or merchant 'no-such-id'" in app.warning[0].value


def test_live_alerts_filter_by_rule(reported: Lake) -> None:
    app = _run_page("live_alerts")
    app.sidebar.multiselect[0].select("high_amount").run()
    rules = set(app.dataframe[0].value["rule_id"])
    assert rules == {"high_amount"}


@pytest.mark.parametrize("page", list(PAGES))
def test_each_page_has_a_clear_empty_state(empty_env: dict[str, str], page: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in empty_env.items():
        monkeypatch.setenv(key, value)
    app = _run_page(page)
    assert app.info, f"{page} shows no empty-state message"
    assert "paystream" in app.info[0].value


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served_dashboard(reported: Lake) -> Iterator[str]:
    """`paystream dashboard` on a free loopback port, with a pass-through streamlit option."""
    port = _free_port()
    log = reported.settings.logs_dir / "dashboard-test.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "paystream.cli", "dashboard", "--server.port", str(port),
             "--server.runOnSave", "false"], stdout=out, stderr=subprocess.STDOUT,
            env=os.environ.copy(), cwd=APP_DIR.parent, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert process.poll() is None, log.read_text()
        time.sleep(0.5)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


def test_every_page_in_a_real_browser(served_dashboard: str, reported: Lake) -> None:
    from playwright.sync_api import sync_playwright

    from lakehouse.stores.postgres import owner_connection

    conn = owner_connection(reported.settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT alert_id, transaction_id FROM payments.alerts "
                        "ORDER BY detected_at DESC, alert_id LIMIT 1")
            newest, alerted_payment = cur.fetchone()
    finally:
        conn.close()
    artifacts = reported.settings.home / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []  # e.g. Vega refusing a chart spec: the chart stays blank
            page.on("console", lambda message: errors.append(message.text)
                    if message.type == "error" and "Failed to load resource" not in message.text
                    else None)
            # the root URL opens the live alerts under their own URL
            page.goto(f"{served_dashboard}/")
            page.wait_for_selector(f"h1:has-text('{PAGES['live_alerts']}')", timeout=90_000)
            page.wait_for_url(f"{served_dashboard}/live_alerts", timeout=30_000)
            for path, heading in PAGES.items():
                # every page's URL works when pasted, the live alerts' too
                page.goto(f"{served_dashboard}/{path}")
                page.wait_for_selector(f"h1:has-text('{heading}')", timeout=90_000)
                if path == "live_alerts":
                    page.wait_for_selector(f"h3:has-text('Alert {newest}')", timeout=90_000)
                page.wait_for_selector(RENDERED[path], timeout=90_000)
                if RENDERED[path].endswith("stVegaLiteChart']"):
                    page.wait_for_selector(f"{RENDERED[path]} .marks", timeout=90_000)
                assert errors == [], (path, errors[:3])
                html = page.content()
                assert heading in html and "Page not found" not in html
                page.screenshot(path=str(artifacts / f"dashboard-{path}.png"), full_page=True)
                assert (artifacts / f"dashboard-{path}.png").stat().st_size > 10_000
            # a search's URL works when pasted
            page.goto(f"{served_dashboard}/payment_search?q={alerted_payment}")
            page.wait_for_selector(f"h3:has-text('Payment {alerted_payment}')", timeout=90_000)
            assert errors == [], errors[:3]
        finally:
            browser.close()


def test_an_analyst_confirms_from_the_review_queue_and_the_label_reaches_lake_and_kafka(
        reported: Lake) -> None:
    import psycopg2
    from pyspark.sql import functions as F

    from lakehouse.stores.postgres import owner_connection
    from spark_jobs.gold_labels import sync_dispositions
    from tests.integration.pipeline_checks import topic_values

    app = _run_page("review_queue")
    queue = app.dataframe[0].value
    assert list(queue["risk_score"]) == sorted(queue["risk_score"], reverse=True)
    top = queue.iloc[0]["transaction_id"]
    app.sidebar.text_input[0].input("ana").run()
    app.button(key="confirm").click().run()
    assert not app.exception, [e.value for e in app.exception]
    remaining = set(app.dataframe[0].value["transaction_id"]) if app.dataframe else set()
    assert top not in remaining
    conn = owner_connection(reported.settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT transaction_id, disposition, analyst, synced_at "
                        "FROM payments.alert_dispositions")
            assert cur.fetchall() == [(top, "confirmed_fraud", "ana", None)]
    finally:
        conn.close()
    analyst = psycopg2.connect(reported.settings.postgres_analyst_url())
    try:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege), analyst, \
                analyst.cursor() as cur:
            cur.execute("DELETE FROM payments.alerts")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege), analyst, \
                analyst.cursor() as cur:
            cur.execute("UPDATE payments.alert_dispositions SET synced_at = now()")
    finally:
        analyst.close()

    assert sync_dispositions(reported.spark, reported.settings) == (1, 0)
    assert sync_dispositions(reported.spark, reported.settings) == (0, 0)
    labels = reported.spark.read.format("delta").load(reported.catalog.table("gold.labels"))
    assert [(r["label"], r["source"]) for r in labels.where(F.col("transaction_id") == top)
            .collect()] == [("fraud", "disposition")]
    published = [v for v in topic_values(reported.spark, reported.settings, "labels")
                 if v["transaction_id"] == top]
    assert [(v["label"], bool(v["merchant_id"])) for v in published] == [("fraud", True)]
