"""Daily backfill: recompute a day's gold from silver with the shared batch rules, report it.

Runs at 01:30 UTC for the day before (its data interval starts at 01:30 of
that day, so the logical date names it), once the pipeline's allowed
lateness (30 minutes by default) has passed, so late payments are in; without
catch-up (a month of empty days would swamp a small machine on first start);
backfill a range on demand with
`airflow backfill create --dag-id daily_backfill_report --from-date 2026-11-20
--to-date 2026-11-25`. A run triggered by hand (`paystream demo` does so)
reports its logical date; for today that is a report so far, which leaves the
gold tables to the stream.
For the logical date it rewrites that day's gold alerts and per-minute
activity (replaceWhere on the date partition, so reruns are idempotent),
writes gold.daily_report and mirrors it to PostgreSQL payments.daily_reports.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task


@dag(
    dag_id="daily_backfill_report",
    schedule=CronDataIntervalTimetable("30 1 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["paystream", "backfill", "report"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    doc_md=__doc__,
)
def daily_backfill_report() -> None:
    """Backfill and report the logical date."""

    @task
    def backfill_and_report() -> dict[str, Any]:
        """Rewrite the day's gold from silver and write its report; return the headline."""
        from lakehouse.settings import load_settings
        from lakehouse.spark import build_spark_session
        from spark_jobs.daily_report import report_day_of, run

        settings = load_settings()
        spark = build_spark_session(settings, app_name="paystream-backfill")
        report = run(spark, settings, report_day_of(get_current_context()))
        return {k: report[k] for k in ("report_date", "payments", "streamed_alerts",
                                       "batch_alerts", "alerts_only_batch")}

    backfill_and_report()


daily_backfill_report()
