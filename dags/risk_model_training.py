"""Risk model training: learn a challenger from the labels known today, promote it if better.

Runs weekly (Mondays 03:30 UTC), without catch-up (a run always learns from
the newest labelled days, whatever its logical date). It trains a
gradient-boosted classifier (Spark MLlib) on the behavioural features and
rule hits of silver's payments, reading only the fraud labels known now: the
newest 14 days are left for their labels to arrive, the 7 days before them
validate out of time, the 30 before those train. The model is saved in the
lake and registered in gold.risk_models as a challenger with its validation
figures; it becomes the champion (the live model the stream, the backfill
and the backtest score with) only when a backtest of the validation days
shows better review+block decisions than the champion's (or the rules
alone). A lake too young to train on ends the run with the reason, not a
failure. Same code as `paystream model train`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task


@dag(
    dag_id="risk_model_training",
    schedule=CronDataIntervalTimetable("30 3 * * 1", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 2, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["paystream", "risk", "model"],
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
    doc_md=__doc__,
)
def risk_model_training() -> None:
    """Train a challenger and promote it when it beats the champion."""

    @task
    def train_and_compare() -> dict[str, Any]:
        """Train, validate, register and compare; return the figures and the verdict."""
        from lakehouse.settings import load_settings
        from lakehouse.spark import build_spark_session
        from spark_jobs.risk_model_training import run_scheduled

        settings = load_settings()
        spark = build_spark_session(settings, app_name="paystream-risk-model")
        return run_scheduled(spark, settings)

    train_and_compare()


risk_model_training()
