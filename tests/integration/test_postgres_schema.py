"""The payments schema: idempotent migration and a read-only role that cannot write."""

from __future__ import annotations

import psycopg2
import pytest

from lakehouse.postgres_schema import migrate
from lakehouse.settings import Settings
from lakehouse.stores.postgres import TRANSACTION_COLUMNS, partition_day

pytestmark = pytest.mark.integration

TABLES = {"alerts", "pipeline_metrics", "dq_results", "daily_reports", "schema_migrations",
          "decisions", "alert_dispositions", "transactions", "rules_versions"}


def test_migration_runs_twice_without_error(live_services: Settings) -> None:
    migrate(live_services)
    assert migrate(live_services) == []
    conn = psycopg2.connect(live_services.postgres_url())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = 'payments'")
            assert {row[0] for row in cur.fetchall()
                    if partition_day(row[0]) is None} == TABLES  # day partitions come and go
            cur.execute("SELECT version FROM payments.schema_migrations")
            assert sorted(row[0] for row in cur.fetchall()) == [
                "001_payments", "002_risk", "003_transactions", "004_rules_versions",
                "005_risk_model"]
    finally:
        conn.close()


def test_readonly_role_reads_but_cannot_write(live_services: Settings) -> None:
    owner = psycopg2.connect(live_services.postgres_url())
    try:
        with owner, owner.cursor() as cur:
            cur.execute(
                "INSERT INTO payments.alerts (alert_id, rule_id, severity, user_id, event_time,"
                " detected_at) VALUES ('ro-test', 'high_amount', 'high', 'u1', now(), now())"
                " ON CONFLICT (alert_id) DO NOTHING"
            )
        reader = psycopg2.connect(live_services.postgres_readonly_url())
        try:
            with reader.cursor() as cur:
                cur.execute("SELECT count(*) FROM payments.alerts WHERE alert_id = 'ro-test'")
                assert cur.fetchone() == (1,)
            for statement in (
                "INSERT INTO payments.alerts (alert_id, rule_id, severity, user_id, event_time,"
                " detected_at) VALUES ('x', 'r', 'low', 'u', now(), now())",
                "DELETE FROM payments.alerts",
                "UPDATE payments.daily_reports SET report = '{}'::jsonb",
                "CREATE TABLE payments.sneaky (id int)",
            ):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege), reader.cursor() as cur:
                    cur.execute(statement)
                reader.rollback()
        finally:
            reader.close()
        with owner, owner.cursor() as cur:
            cur.execute("DELETE FROM payments.alerts WHERE alert_id = 'ro-test'")
    finally:
        owner.close()


def test_payments_land_once_per_day_partition_readable_and_old_days_are_dropped(
        live_services: Settings) -> None:
    from datetime import UTC, date, datetime, timedelta
    from decimal import Decimal

    from lakehouse.stores.postgres import drop_expired_transactions, insert_transactions

    settings = live_services
    today = date(2001, 3, 10)  # days before any other test's, so only its own partitions go
    days = [today - timedelta(days=n) for n in (0, 6, 7, 9)]

    def payment(n: int, day: date) -> tuple[object, ...]:
        values = {"transaction_id": f"tx-schema-{n}", "event_date": day,
                  "event_time": datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
                  "user_id": "u-schema", "card_id": "c-1", "amount": Decimal("10.00"),
                  "currency": "EUR", "amount_eur": Decimal("10.00"), "merchant_id": "m-1",
                  "merchant_category": "5411", "country": "DE", "city": "Berlin", "lat": 52.5,
                  "lon": 13.4, "channel": "pos", "kafka_timestamp": None}
        return tuple(values[c] for c in TRANSACTION_COLUMNS)

    batch = [payment(n, day) for n, day in enumerate(days)]
    owner = psycopg2.connect(settings.postgres_url())
    try:
        with owner, owner.cursor() as cur:  # what an earlier, interrupted run left
            cur.execute("DELETE FROM payments.transactions WHERE user_id = 'u-schema'")
    finally:
        owner.close()
    assert insert_transactions(settings, batch, today) == 2  # days 7 and 9 are past retention
    assert insert_transactions(settings, batch, today) == 2  # a replayed batch: no new rows
    reader = psycopg2.connect(settings.postgres_readonly_url())
    try:
        with reader.cursor() as cur:
            cur.execute("SELECT transaction_id, event_date FROM payments.transactions "
                        "WHERE user_id = 'u-schema' ORDER BY 1")
            assert cur.fetchall() == [("tx-schema-0", days[0]), ("tx-schema-1", days[1])]
    finally:
        reader.close()
    # A week later the older of the two days is past retention: its partition goes whole.
    assert drop_expired_transactions(settings, today + timedelta(days=1)) == [
        f"transactions_{days[1]:%Y%m%d}"]
    owner = psycopg2.connect(settings.postgres_url())
    try:
        with owner, owner.cursor() as cur:
            cur.execute("SELECT transaction_id FROM payments.transactions "
                        "WHERE user_id = 'u-schema'")
            assert cur.fetchall() == [("tx-schema-0",)]
            cur.execute(f"DROP TABLE payments.transactions_{today:%Y%m%d}")
    finally:
        owner.close()
