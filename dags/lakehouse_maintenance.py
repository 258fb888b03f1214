"""Daily OPTIMIZE (compaction) and VACUUM of every Delta table, safe while the stream runs,
and the retention of PostgreSQL's payments.transactions.

Compaction only rewrites small files into bigger ones (no conflict with the
stream's appends); VACUUM keeps 7 days of history (Delta's own safe minimum),
so readers and time travel within a week are never broken. The day partitions
of payments.transactions older than `postgres.transactions_retention_days` are
dropped whole (a DROP TABLE each, never a DELETE of rows).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="lakehouse_maintenance",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["paystream", "maintenance", "delta"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    doc_md=__doc__,
)
def lakehouse_maintenance() -> None:
    """Optimize and vacuum every table; drop expired payment partitions."""

    @task
    def optimize_and_vacuum() -> list[dict[str, Any]]:
        """Compact and vacuum each existing table; return what was done."""
        from lakehouse.settings import load_settings
        from lakehouse.spark import build_spark_session
        from spark_jobs.maintenance import maintain_all

        settings = load_settings()
        spark = build_spark_session(settings, app_name="paystream-maintenance")
        return maintain_all(spark, settings)

    @task
    def drop_expired_payments() -> list[str]:
        """Drop payments.transactions' day partitions past the retention; return their names."""
        from datetime import UTC, datetime

        from lakehouse.settings import load_settings
        from lakehouse.stores.postgres import drop_expired_transactions

        return drop_expired_transactions(load_settings(), datetime.now(UTC).date())

    optimize_and_vacuum()
    drop_expired_payments()


lakehouse_maintenance()
