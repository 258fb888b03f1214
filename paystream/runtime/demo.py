"""`paystream demo`: the whole platform on this machine, started in order, each part once.

Services (Kafka, PostgreSQL, schema) and topics, then the supervised parts
(stream, producer, dashboard), then, once the lake holds data, a first
data-quality run in the background (`paystream dq`, so the Data quality page
fills within minutes rather than after Airflow's start and first schedule) and
Airflow: its DAGs are unpaused at creation, so their first scheduled runs
(yesterday's report, maintenance, data quality for the hour) start at once and
find data to work on, and a run of the daily report for today so far is
triggered. A part already
running is left alone; a part that cannot start is reported in one line and
the others carry on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lakehouse.errors import PaystreamError
from lakehouse.settings import Settings
from paystream.runtime import airflow_server, processes, services, supervised

TODAYS_REPORT = "daily_backfill_report"
"""Triggered with logical date now: a report of today so far, for the Daily reports page."""

FIRST_DQ = supervised.BACKGROUND[0]
"""The background `paystream dq` run the demo starts (supervised.BACKGROUND)."""

START_ORDER = ("stream", "producer", "dashboard")
"""The stream first, so the producer's first payments meet a running pipeline."""

@dataclass
class DemoReport:
    """What `demo` started, what already ran, what failed and how soon alerts flowed."""

    started: list[str] = field(default_factory=list)
    already_running: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    first_alert_s: float | None = None
    triggered: list[str] = field(default_factory=list)
    total_s: float = 0.0


def dashboard_preflight(settings: Settings) -> None:
    """Fail in one line, naming the setting, when the dashboard's port is taken."""
    demo = settings.demo
    processes.require_free_port(demo.dashboard_host, demo.dashboard_port, "dashboard",
                                "PAYSTREAM_DEMO__DASHBOARD_PORT")


def _start_part(settings: Settings, name: str, report: DemoReport) -> None:
    """Start one supervised part, recording a failure as one line instead of raising."""
    try:
        if name == "dashboard":
            dashboard_preflight(settings)
        supervised.start_part(settings, name)
        report.started.append(name)
    except PaystreamError as error:
        report.failures.append(f"{name}: {error} (log {supervised.log_path(settings, name)})")


def alerts_since(settings: Settings, since: datetime) -> int:
    """How many alerts reached PostgreSQL at or after a moment."""
    from lakehouse.stores.postgres import connect

    conn = connect(settings.postgres_url())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM payments.alerts WHERE inserted_at >= %s", (since,))
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def wait_for_first_alert(settings: Settings, since: datetime, timeout_s: float) -> float | None:
    """Seconds from `since` until an alert row appeared in PostgreSQL, or None on timeout."""
    if processes.wait_until(lambda: alerts_since(settings, since) > 0, timeout_s,
                            interval_s=0.5):
        return (datetime.now(UTC) - since).total_seconds()
    return None


def _silver_has_data(settings: Settings) -> bool:
    from lakehouse.catalog import Catalog
    from lakehouse.tables import SILVER_TRANSACTIONS

    log = Path(Catalog(settings.lake).table(SILVER_TRANSACTIONS)) / "_delta_log"
    return any(log.glob("*.json"))


def _wait_for_silver(settings: Settings, say: Callable[[str], None]) -> None:
    """Wait (bounded) for the lake's first silver commit, so Airflow's first runs see data."""
    say("waiting for the lake's first batch, so Airflow's first runs have data")
    if not processes.wait_until(lambda: _silver_has_data(settings), 180, interval_s=1.0):
        say(f"no silver data after 180 s (see {supervised.log_path(settings, 'stream')}); "
            "starting Airflow anyway")


def _start_first_dq(settings: Settings, report: DemoReport, say: Callable[[str], None]) -> None:
    """Run the data-quality suites once in the background, now that silver has a batch."""
    if supervised.background_running(settings, FIRST_DQ):
        return
    log = supervised.start_background(settings, FIRST_DQ, supervised.paystream_command("dq"))
    say(f"running the data-quality suites once in the background (log {log})")
    report.triggered.append(FIRST_DQ)


def _start_airflow(settings: Settings, report: DemoReport, say: Callable[[str], None]) -> None:
    """Start Airflow unless it runs, recording a failure as one line instead of raising."""
    if airflow_server.running(settings):
        report.already_running.append("airflow")
        return
    say("starting Airflow standalone (its first start migrates a database, about a minute)")
    try:
        airflow_server.start(settings)
        report.started.append("airflow")
    except PaystreamError as error:
        report.failures.append(f"airflow: {error} (setting PAYSTREAM_AIRFLOW__PORT)")
        return
    try:
        airflow_server.trigger(settings, TODAYS_REPORT)
        report.triggered.append(TODAYS_REPORT)
    except PaystreamError as error:
        report.failures.append(f"airflow: {error} (log {airflow_server.info(settings).log})")


def run_demo(settings: Settings, say: Callable[[str], None] = lambda _: None) -> DemoReport:
    """Bring up every part that is not running yet; wait for the first alert in PostgreSQL."""
    from lakehouse.topics import reconcile_topics, topic_specs

    began = time.monotonic()
    report = DemoReport()
    up = services.up(settings, say=say)
    report.started += list(up.started)
    report.already_running += up.already_running
    say("creating the Kafka topics")
    reconcile_topics(settings.kafka, topic_specs(settings))
    say("starting the supervised parts: stream, producer, dashboard")
    supervised.ensure_running(settings)
    states = supervised.part_states(settings)
    producer_started_at = None
    for name in START_ORDER:
        if states[name].up:
            report.already_running.append(name)
            continue
        if name == "producer":
            producer_started_at = datetime.now(UTC)
        _start_part(settings, name, report)
    if producer_started_at is not None and "producer" in report.started:
        say("waiting for the first alert to reach PostgreSQL")
        report.first_alert_s = wait_for_first_alert(settings, producer_started_at,
                                                    settings.demo.first_alert_timeout_s)
        if report.first_alert_s is None:
            report.failures.append(
                f"stream: no alert reached PostgreSQL within "
                f"{settings.demo.first_alert_timeout_s:.0f} s "
                f"(log {supervised.log_path(settings, 'stream')})")
    if settings.demo.airflow:
        if "stream" in report.started and not airflow_server.running(settings):
            _wait_for_silver(settings, say)
            if _silver_has_data(settings):
                _start_first_dq(settings, report, say)
        _start_airflow(settings, report, say)
    report.total_s = time.monotonic() - began
    return report
