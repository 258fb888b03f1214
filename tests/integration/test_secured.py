"""Secured connections on real processes: the embedded broker serves SASL_SSL (SCRAM-SHA-512,
a keytool certificate), PostgreSQL serves TLS, and every client (admin, producer, Spark's
Kafka source and sink, the alert writer) goes through them; secrets are never printed."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from pydantic import SecretStr

from lakehouse.catalog import Catalog
from lakehouse.settings import KafkaSettings, PostgresSettings, Settings, load_settings
from paystream.runtime.kafka_broker import live_brokers
from tests.conftest import free_port_run, run_cli
from tests.integration.pipeline_checks import (
    assert_transactions_mirrored,
    gold_alert_ids,
    postgres_alert_ids,
    reconcile,
)

pytestmark = pytest.mark.integration

EVENTS = 600
SECRET = "Kafka-s3cret_for-the-test"


def _secured(home: Path, base: int, password_file: Path) -> tuple[dict[str, str], Settings]:
    """The environment a user sets for a secured stack, and the same as a settings object."""
    env = {
        "PAYSTREAM_HOME": str(home),
        "PAYSTREAM_LAKE_ROOT": str(home / "lake"),
        "PAYSTREAM_KAFKA__PORT": str(base),
        "PAYSTREAM_KAFKA__CONTROLLER_PORT": str(base + 1),
        "PAYSTREAM_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "PAYSTREAM_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
        "PAYSTREAM_KAFKA__SASL_USERNAME": "paystream",
        "PAYSTREAM_KAFKA__SASL_PASSWORD_FILE": str(password_file),
        "PAYSTREAM_POSTGRES__PORT": str(base + 2),
        "PAYSTREAM_POSTGRES__SSL": "true",
        "PAYSTREAM_POSTGRES__SSLMODE": "verify-full",
    }
    settings = load_settings(
        home=home, lake_root=home / "lake",
        kafka=KafkaSettings(port=base, controller_port=base + 1, security_protocol="SASL_SSL",
                            sasl_mechanism="SCRAM-SHA-512", sasl_username="paystream",
                            sasl_password_file=password_file),
        postgres=PostgresSettings(port=base + 2, ssl=True, sslmode="verify-full"))
    return env, settings


def _alert_ids_on_topic(settings: Settings) -> set[str]:
    """Every alert_id on the `alerts` topic, read over the secured listener."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer("alerts", auto_offset_reset="earliest", group_id=None,
                             consumer_timeout_ms=10_000, **settings.kafka.python_client_config())
    try:
        return {json.loads(record.value)["alert_id"] for record in consumer}
    finally:
        consumer.close()


def test_sasl_ssl_kafka_and_tls_postgres_carry_the_pipeline_and_hide_the_secrets(
    live_services: Settings, spark  # type: ignore[no-untyped-def]
) -> None:
    import psycopg2

    home = Path(tempfile.mkdtemp(prefix="paystream-secured-", dir="/tmp"))
    os.chmod(home, 0o755)  # the postgres user enters it to run the throwaway cluster
    password_file = home / "kafka.password"
    password_file.write_text(SECRET + "\n")
    os.chmod(password_file, 0o600)
    env, settings = _secured(home, free_port_run(3), password_file)
    try:
        up = run_cli("up", env=env, timeout=300)
        assert up.returncode == 0, up.stderr[-3000:]
        assert "(SASL_SSL SCRAM-SHA-512 as paystream)" in up.stdout, up.stdout
        status = run_cli("status", "--json", env=env)
        for printed in (up.stdout, up.stderr, status.stdout, status.stderr):
            assert SECRET not in printed
        state = json.loads(status.stdout)
        assert state["kafka"]["up"] and state["kafka"]["sasl_password"] == "***"
        assert "sslmode=verify-full" in state["postgres"]["dsn"]
        broker_config = home / "kafka" / "server.properties"
        assert stat.S_IMODE(broker_config.stat().st_mode) == 0o600
        assert "SASL_SSL" in broker_config.read_text()

        # The listener refuses a wrong password and a plaintext client, and admits ours.
        wrong = settings.kafka.model_copy(update={"sasl_password": SecretStr("not-it")})
        plaintext = settings.kafka.model_copy(update={"security_protocol": "PLAINTEXT"})
        assert live_brokers(wrong, timeout_s=5) == 0
        assert live_brokers(plaintext, timeout_s=5) == 0
        assert live_brokers(settings.kafka, timeout_s=5) == 1

        topics = run_cli("topics", env=env)
        assert topics.returncode == 0, topics.stderr
        produce = run_cli("produce", "--count", str(EVENTS), "--fraud-rate", "0.05",
                          "--fault-rate", "0.03", "--seed", "21", "--quiet", env=env)
        assert produce.returncode == 0, produce.stderr[-2000:]
        assert f"acknowledged {EVENTS:,}, errors 0" in produce.stdout, produce.stdout
        stream = run_cli("stream", "--available-now", env=env, timeout=900)
        assert stream.returncode == 0, stream.stderr[-3000:]
        assert SECRET not in stream.stdout + stream.stderr

        catalog = Catalog(home / "lake")
        reconcile(spark, catalog, EVENTS)
        gold = gold_alert_ids(spark, catalog)
        assert gold and postgres_alert_ids(settings) == gold
        assert_transactions_mirrored(spark, settings, catalog)
        assert _alert_ids_on_topic(settings) == set(gold)

        conn = psycopg2.connect(settings.postgres_url())
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                assert cur.fetchone() == (True,)
        finally:
            conn.close()
    finally:
        down = run_cli("down", env=env, timeout=300)
        shutil.rmtree(home, ignore_errors=True)
    assert down.returncode == 0, down.stderr
    assert down.stdout.strip() == "stopped kafka, postgres", down.stdout
