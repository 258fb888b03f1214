"""Reference statistics: relearn the category factors from silver, daily.

Runs at 02:30 UTC, without catch-up (each run learns from the newest 30 days
of silver whatever its logical date, so an older run would add nothing). It
totals the payments not known as fraud per merchant category and writes one
factor per category to gold.category_factors, replacing the table: its Delta
version is the version of the statistics. A category with fewer than 200
payments, or every category while the history holds fewer than 7 days with
payments, keeps the cold-start default of `lakehouse/reference/mcc_tickets.csv`.
The backfill and the backtest read the new version at once; the stream when
its stateful query next starts. Same code as spark_jobs.reference_stats.run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task


@dag(
    dag_id="reference_statistics",
    schedule=CronDataIntervalTimetable("30 2 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["paystream", "reference", "behaviour"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    doc_md=__doc__,
)
def reference_statistics() -> None:
    """Relearn the category factors."""

    @task
    def learn_category_factors() -> dict[str, Any]:
        """Replace gold.category_factors from silver; return its version and what it holds."""
        from lakehouse.settings import load_settings
        from lakehouse.spark import build_spark_session
        from spark_jobs.reference_stats import run

        settings = load_settings()
        spark = build_spark_session(settings, app_name="paystream-reference-stats")
        return run(spark, settings)

    learn_category_factors()


reference_statistics()
