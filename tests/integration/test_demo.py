"""`paystream demo` end to end: the supervised platform reaches an alert, takes a changed rules
file without a restart, rides out PostgreSQL stopped under load (losing and doubling nothing),
survives a killed stream, starts nothing twice, and `down` stops the stream cleanly and leaves
no process behind."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from lakehouse.catalog import Catalog
from lakehouse.rules import RULES_PATH
from lakehouse.rules_watch import rules_version
from lakehouse.settings import Settings, load_settings
from lakehouse.stores.postgres import owner_connection
from paystream.runtime import postgres_server, processes
from spark_jobs import reference_stats
from tests.conftest import alive, free_port, run_cli
from tests.integration.pipeline_checks import (
    assert_transactions_mirrored,
    clear_postgres,
    gold_alert_ids,
    postgres_alert_ids,
    reconcile,
    recreate_topics,
    topic_records,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHIPPED_THRESHOLD = "5000.00"
LOWER_THRESHOLD = "300.00"
OUTAGE_S = 20
"""How long PostgreSQL stays stopped under the running demo: an alert batch meets the outage
and retries with backoff (lakehouse.stores.postgres.with_postgres) several times."""


def _demo_env(settings: Settings, home: Path) -> dict[str, str]:
    """A throwaway state folder whose demo uses the suite's Kafka and PostgreSQL as external
    services (so `down` leaves them running), without Airflow (tested on its own)."""
    return {
        "PAYSTREAM_HOME": str(home),
        # explicit: an earlier fixture may have pointed PAYSTREAM_LAKE_ROOT at its own lake
        "PAYSTREAM_LAKE_ROOT": str(home / "lake"),
        "PAYSTREAM_JARS_DIR": str(settings.jars),
        "PAYSTREAM_KAFKA__BOOTSTRAP": settings.kafka.bootstrap_servers,
        "PAYSTREAM_POSTGRES_DSN": settings.postgres_url(),
        "PAYSTREAM_DEMO__AIRFLOW": "false",
        "PAYSTREAM_DEMO__DASHBOARD_PORT": str(free_port()),
        "PAYSTREAM_PIPELINE__LAKE_TRIGGER_S": "5",
        "PAYSTREAM_RULES_FILE": str(home.parent / "rules.yaml"),
        "PAYSTREAM_PIPELINE__FACTORS_POLL_S": "2",
    }


def _set_threshold(path: Path, threshold: str) -> str:
    """Write the shipped rules with another high_amount threshold; return the file's version."""
    document = yaml.safe_load(RULES_PATH.read_text())
    assert document["rules"]["high_amount"]["params"]["threshold_eur"] == SHIPPED_THRESHOLD
    document["rules"]["high_amount"]["params"]["threshold_eur"] = threshold
    path.write_text(yaml.safe_dump(document))
    return rules_version(path)


def _postgres_rows(settings: Settings, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = owner_connection(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        conn.close()


def _status(env: dict[str, str]) -> dict[str, Any]:
    result = run_cli("status", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def _rows(spark: Any, table: str) -> int:
    """Rows of a Delta table; 0 before its first commit."""
    if not any((Path(table) / "_delta_log").glob("*.json")):
        return 0
    return int(spark.read.format("delta").load(table).count())


def _lake_lag(settings: Settings, lake: Path) -> int | None:
    from lakehouse.stream_progress import query_progress, topic_end_offsets

    ends = topic_end_offsets(settings.kafka, ["transactions", "alerts"])
    return {p.query: p.lag_records for p in query_progress(lake, ends)}["medallion"]


def _family(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def test_demo_takes_new_rules_rides_out_postgres_and_a_killed_stream_then_stops_clean(
    live_services: Settings, spark, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    home = tmp_path / "home"
    env = _demo_env(live_services, home)
    settings = load_settings(home=home, lake_root=home / "lake")
    catalog = Catalog(home / "lake")
    # No topic recreation right before: a stream started seconds after a topic is deleted and
    # created again read the old partitions' offsets, then lost them when the broker removed the
    # old logs a minute later (OffsetOutOfRange). The demo reads whatever the topic holds.
    clear_postgres(live_services)
    rules = Path(env["PAYSTREAM_RULES_FILE"])
    shipped = _set_threshold(rules, SHIPPED_THRESHOLD)
    try:
        first = run_cli("demo", env=env, timeout=900)
        assert first.returncode == 0, first.stderr[-3000:]
        assert "first alert    in PostgreSQL" in first.stdout, first.stdout
        assert postgres_alert_ids(live_services)
        state = _status(env)
        assert {name: part["up"] for name, part in state["parts"].items()} == {
            "producer": True, "stream": True, "dashboard": True}
        with urllib.request.urlopen(f"{state['parts']['dashboard']['url']}/_stcore/health",
                                    timeout=10) as answer:
            assert answer.read() == b"ok"

        again = run_cli("demo", env=env, timeout=300)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "already running: stream, producer, dashboard" in again.stdout, again.stdout
        assert "started:" not in again.stdout
        assert {n: p["pid"] for n, p in _status(env)["parts"].items()} == {
            n: p["pid"] for n, p in state["parts"].items()}

        # The rules file changed under the running stream: payments between the two thresholds
        # alert with the new version, the versions are recorded, and the stream never restarts.
        lower = _set_threshold(rules, LOWER_THRESHOLD)
        new_alerts = """SELECT count(*) FROM payments.alerts WHERE rule_id = 'high_amount'
                        AND rules_version = %s AND amount_eur > %s AND amount_eur <= %s"""
        assert processes.wait_until(lambda: _postgres_rows(
            live_services, new_alerts, lower, LOWER_THRESHOLD, SHIPPED_THRESHOLD)[0][0] > 0,
            180, interval_s=1), (home / "logs" / "stream.log").read_text()[-3000:]
        assert _postgres_rows(live_services, new_alerts, shipped, LOWER_THRESHOLD,
                              SHIPPED_THRESHOLD)[0][0] == 0
        assert [row[0] for row in _postgres_rows(
            live_services, "SELECT rules_version FROM payments.rules_versions "
            "ORDER BY live_from")] == [shipped, lower]
        assert (home / "rules" / f"{lower}.yaml").read_text() == rules.read_text()
        stream_log = home / "logs" / "stream.log"
        switched = f"rules: version {lower} live ({rules}): instant, stateful restarted in"
        assert processes.wait_until(lambda: switched in stream_log.read_text(), 120), \
            stream_log.read_text()[-3000:]
        log = stream_log.read_text()
        assert log.count("stateful: running") == 1, log[-3000:]  # one start of the stream
        # New category factors (the reference_statistics DAG's job) restart the stateful query.
        factors = reference_stats.run(spark, settings)["version"]
        assert processes.wait_until(lambda: f"category factors: version {factors} live: "
                                    "stateful restarted" in stream_log.read_text(), 120), \
            stream_log.read_text()[-3000:]
        assert _status(env)["parts"]["stream"]["pid"] == state["parts"]["stream"]["pid"]

        # PostgreSQL stopped under load: an alert batch meets the outage and waits, retrying,
        # with every query still running; nothing is lost or doubled (checked at the end).
        postgres_server.stop(live_services)
        stopped = time.monotonic()
        try:
            assert processes.wait_until(
                lambda: "PostgreSQL unavailable" in stream_log.read_text(), 120, interval_s=1), \
                stream_log.read_text()[-3000:]
            processes.wait_until(lambda: time.monotonic() - stopped >= OUTAGE_S, OUTAGE_S + 5,
                                 interval_s=1)
            # (`status` exits 1 while PostgreSQL is down: the same stream process still runs)
            assert alive(state["parts"]["stream"]["pid"]), stream_log.read_text()[-3000:]
        finally:
            postgres_server.start(live_services)

        # A crashed stream is restarted by the supervisor and picks up where it stopped.
        killed = state["parts"]["stream"]["pid"]
        os.kill(killed, signal.SIGKILL)
        assert processes.wait_until(
            lambda: (_status(env)["parts"]["stream"]["pid"] or killed) != killed, 60)
        stopped = run_cli("stop", "producer", env=env)
        assert stopped.returncode == 0 and "producer stopped" in stopped.stdout, stopped.stderr
        sent = topic_records(live_services, "transactions")
        bronze = catalog.table("bronze.transactions_raw")
        assert processes.wait_until(lambda: _rows(spark, bronze) == sent, 300, interval_s=3)
        assert _status(env)["parts"]["stream"]["up"]
        # what the dashboard's health page shows: the lake query's lag reaches zero
        assert processes.wait_until(lambda: _lake_lag(live_services, home / "lake") == 0, 120,
                                    interval_s=2)

        supervisord = processes.read_pid(settings.run_dir / "supervisord.pid")
        assert supervisord is not None
        family = _family(supervisord)
        down = run_cli("down", env=env, timeout=300)
        assert down.returncode == 0, down.stderr
        assert down.stdout.startswith("stopped stream, dashboard, supervisord"), down.stdout
        assert [p.pid for p in family if alive(p.pid)] == []
        # SIGTERM stopped every query; it interrupted the real-time query's open batch, which is
        # no error to report.
        log = stream_log.read_text()
        assert "stream: bronze, silver, gold stopped" in log, log[-3000:]
        assert "Aborted commit" not in log and "Aborting task" not in log, log[-3000:]

        # The stream stopped between batches; a catch-up run finishes what was in flight.
        caught_up = run_cli("stream", "--available-now", env=env, timeout=900)
        assert caught_up.returncode == 0, caught_up.stderr[-3000:]
        reconcile(spark, catalog, sent)
        assert postgres_alert_ids(live_services) == gold_alert_ids(spark, catalog)
        assert_transactions_mirrored(spark, live_services, catalog)
    finally:
        run_cli("down", env=env, timeout=300)
        recreate_topics(live_services)
        clear_postgres(live_services)


def test_a_part_whose_port_is_taken_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("start", "dashboard", env={
            "PAYSTREAM_HOME": str(tmp_path / "home"),
            "PAYSTREAM_DEMO__DASHBOARD_PORT": str(port)})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {port}" in lines[0] and "PAYSTREAM_DEMO__DASHBOARD_PORT" in lines[0]
    assert not (tmp_path / "home" / "run" / "supervisord.pid").exists()
