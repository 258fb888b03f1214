"""The payments schema: idempotent migration and a read-only role that cannot write."""

from __future__ import annotations

import psycopg2
import pytest

from lakehouse.postgres_schema import migrate
from lakehouse.settings import Settings

pytestmark = pytest.mark.integration

TABLES = {"alerts", "pipeline_metrics", "dq_results", "daily_reports", "schema_migrations",
          "decisions", "alert_dispositions"}


def test_migration_runs_twice_without_error(live_services: Settings) -> None:
    migrate(live_services)
    assert migrate(live_services) == []
    conn = psycopg2.connect(live_services.postgres_url())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = 'payments'")
            assert {row[0] for row in cur.fetchall()} == TABLES
            cur.execute("SELECT version FROM payments.schema_migrations")
            assert sorted(row[0] for row in cur.fetchall()) == ["001_payments", "002_risk"]
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
