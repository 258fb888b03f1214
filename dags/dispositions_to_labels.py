"""Dispositions to labels: every ten minutes, the analysts' words from the dashboard's review
queue (payments.alert_dispositions) go into gold.labels and Kafka `labels`.

There the stream's merchant profiles count them (risky_terminal) and the backtest scores the
rules against them. A disposition whose payment has not reached silver yet waits for the next
run. It runs the same code as `paystream label --dispositions`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="dispositions_to_labels",
    schedule=timedelta(minutes=10),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["paystream", "labels", "review"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    doc_md=__doc__,
)
def dispositions_to_labels() -> None:
    """Carry the pending dispositions into the labels."""

    @task
    def sync() -> dict[str, int]:
        """Merge the pending dispositions; return how many were carried and how many wait."""
        from lakehouse.settings import load_settings
        from lakehouse.spark import build_spark_session
        from lakehouse.stores import postgres
        from spark_jobs.gold_labels import sync_dispositions

        settings = load_settings()
        if not postgres.pending_dispositions(settings):  # no Spark session for nothing
            return {"synced": 0, "pending": 0}
        spark = build_spark_session(settings, app_name="dispositions-to-labels")
        try:
            synced, pending = sync_dispositions(spark, settings)
        finally:
            spark.stop()
        return {"synced": synced, "pending": pending}

    sync()


dispositions_to_labels()
