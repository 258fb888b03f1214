"""`paystream up | down | status`: start, stop and describe the local services.

`up` is idempotent: a service already running from this state folder is left
alone. `down` stops everything this state folder runs, in order (producer,
stream, dashboard, Airflow, Kafka, PostgreSQL); an external Kafka cluster or
PostgreSQL server named in the settings is never touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lakehouse.errors import PaystreamError
from lakehouse.java import find_java
from lakehouse.settings import Settings
from lakehouse.stores.postgres import connect, reachable
from paystream.runtime import (
    airflow_server,
    kafka_broker,
    postgres_server,
    processes,
    spark_cluster,
    supervised,
)


@dataclass
class UpReport:
    """What `up` did, with the start-up time of each service it started."""

    started: dict[str, float] = field(default_factory=dict)
    already_running: list[str] = field(default_factory=list)
    migrations_applied: list[str] = field(default_factory=list)


def _preflight(settings: Settings, kafka_needed: bool, postgres_needed: bool) -> None:
    """Fail fast, before starting anything, on missing Java, taken ports or a bad DSN."""
    if settings.postgres_external:
        connect(settings.postgres_url()).close()
    if kafka_needed:
        find_java()
        kafka = settings.kafka
        for node, pid in kafka_broker.running_pids(settings).items():
            if pid is not None:
                continue
            label = "" if kafka.brokers == 1 else f" (node {node})"
            processes.require_free_port(kafka.host, kafka.broker_port(node),
                                        f"Kafka broker{label}", "PAYSTREAM_KAFKA__PORT")
            processes.require_free_port(kafka.host, kafka.controller_port_of(node),
                                        f"Kafka controller{label}",
                                        "PAYSTREAM_KAFKA__CONTROLLER_PORT")
    if spark_cluster.wanted(settings):
        find_java()
        spark_cluster.preflight(settings)
    if postgres_needed:
        postgres_server.server_bindir()
        pg = settings.postgres
        processes.require_free_port(pg.host, pg.port, "PostgreSQL", "PAYSTREAM_POSTGRES__PORT")


def up(settings: Settings, say: Callable[[str], None] = lambda _: None) -> UpReport:
    """Start Kafka and PostgreSQL if needed, wait until both answer, then migrate."""
    from lakehouse.postgres_schema import migrate, refuse_default_passwords

    refuse_default_passwords(settings)  # before anything starts
    report = UpReport()
    kafka_needed = settings.kafka.embedded and None in kafka_broker.running_pids(settings).values()
    postgres_needed = not settings.postgres_external and not postgres_server.is_running(settings)
    if settings.kafka.embedded and not kafka_needed:
        report.already_running.append("kafka")
    if not settings.postgres_external and not postgres_needed:
        report.already_running.append("postgres")
    _preflight(settings, kafka_needed, postgres_needed)
    local_lake = [settings.lake] if settings.lake_is_local else []
    for folder in (settings.home, settings.logs_dir, settings.run_dir, *local_lake):
        folder.mkdir(parents=True, exist_ok=True)

    brokers: dict[int, Any] = {}
    broker_started_at = time.monotonic()
    if kafka_needed:
        count = settings.kafka.brokers
        say(f"starting {'Kafka broker' if count == 1 else f'{count} Kafka brokers'} "
            "(jars resolved from Maven Central on first run)")
        brokers = kafka_broker.start(settings)
    try:
        if postgres_needed:
            say("starting PostgreSQL")
            report.started["postgres"] = postgres_server.start(settings)
        if brokers:
            say("waiting for the Kafka brokers to answer a metadata request")
            kafka_broker.wait_ready(settings, brokers)
            report.started["kafka"] = time.monotonic() - broker_started_at
    except PaystreamError:
        if any(broker.poll() is None for broker in brokers.values()):
            kafka_broker.stop(settings)
        raise
    external_kafka = not settings.kafka.embedded
    if external_kafka and not kafka_broker.metadata_ok(settings.kafka):
        raise PaystreamError(
            f"cannot reach Kafka at {settings.kafka.bootstrap_servers} (PAYSTREAM_KAFKA__BOOTSTRAP)"
        )
    if spark_cluster.wanted(settings):
        if None in spark_cluster.running(settings).values():
            say(f"starting the Spark standalone cluster: master "
                f"{spark_cluster.master_url(settings)}, "
                f"{settings.spark.standalone_workers} workers")
            report.started["spark"] = spark_cluster.start(settings)
        else:
            report.already_running.append("spark")
    say("applying the payments schema")
    report.migrations_applied = migrate(settings)
    return report


def down(settings: Settings) -> list[str]:
    """Stop the parts and services this state folder started, in order; return their names."""
    stopped = supervised.shutdown(settings)
    if airflow_server.stop(settings):
        stopped.append("airflow")
    if spark_cluster.stop(settings):
        stopped.append("spark")
    if kafka_broker.stop(settings):
        stopped.append("kafka")
    if postgres_server.stop(settings):
        stopped.append("postgres")
    return stopped


def _masked(dsn: str) -> str:
    from psycopg2.extensions import parse_dsn

    params = parse_dsn(dsn)
    host, port = params.get("host", "localhost"), params.get("port", "5432")
    db = params.get("dbname", "")
    user = params.get("user", "")
    secret = ":***" if params.get("password") else ""
    query = "&".join(f"{key}={params[key]}" for key in ("sslmode", "sslrootcert") if key in params)
    return f"postgresql://{user}{secret}@{host}:{port}/{db}" + (f"?{query}" if query else "")


def status(settings: Settings) -> dict[str, Any]:
    """What runs where, checked live: a metadata request to Kafka, a connection to PostgreSQL."""
    kafka_pids = kafka_broker.running_pids(settings)
    airflow = airflow_server.info(settings)
    live = kafka_broker.live_brokers(settings.kafka, timeout_s=2.0)
    broker_paths = kafka_broker.BrokerPaths.of(settings)
    return {
        "profile": settings.profile,
        "home": str(settings.home),
        "lake_root": str(settings.lake_location),
        "logs": str(settings.logs_dir),
        "kafka": {
            **settings.kafka.described(),
            "up": live >= (settings.kafka.brokers if settings.kafka.embedded else 1),
            "brokers": live,
            "embedded": settings.kafka.embedded,
            "pid": kafka_pids[1],
            "pids": kafka_pids,
            "log": str(broker_paths.server_log),
        },
        "postgres": {
            "dsn": _masked(settings.postgres_url()),
            "readonly_dsn": _masked(settings.postgres_readonly_url()),
            "up": reachable(settings.postgres_url()),
            "embedded": not settings.postgres_external,
            "log": str(postgres_server.ClusterPaths.of(settings).log),
        },
        "airflow": {
            "url": airflow.url,
            "up": airflow_server.running(settings),
            "log": str(airflow.log),
        },
        **({"spark": spark_cluster.status(settings)} if spark_cluster.wanted(settings) else {}),
        "parts": {
            part.name: {"state": part.state, "up": part.up, "pid": part.pid, "log": part.log,
                        **({"url": supervised.dashboard_url(settings)}
                           if part.name == "dashboard" else {})}
            for part in supervised.part_states(settings).values()
        },
    }
