"""Great Expectations suites on bronze, silver and gold; Data Docs; results in PostgreSQL.

Hourly and on demand. The validate task runs every suite in expectations/,
builds Data Docs under `$PAYSTREAM_HOME/great_expectations` and stores one
row per suite in payments.dq_results. The gate task fails the run when a
critical expectation failed, naming it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="data_quality",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["paystream", "data-quality"],
    default_args={"retries": 1, "retry_delay": timedelta(minutes=2)},
    doc_md=__doc__,
)
def data_quality() -> None:
    """Validate, then gate."""

    @task(retries=0)
    def validate() -> list[dict[str, Any]]:
        """Run every suite, build Data Docs, record the results; return them."""
        from expectations.runner import new_run_id, record_outcomes, run_suites
        from lakehouse.settings import load_settings
        from lakehouse.spark import build_spark_session

        settings = load_settings()
        spark = build_spark_session(settings, app_name="paystream-dq")
        outcomes = run_suites(spark, settings)
        record_outcomes(settings, outcomes, new_run_id())
        return [dict(o.__dict__) for o in outcomes]

    @task(retries=0)
    def gate(outcomes: list[dict[str, Any]]) -> None:
        """Fail when any critical expectation failed."""
        failed = [f"{o['suite']}: {name}" for o in outcomes for name in o["failed_critical"]]
        if failed:
            raise RuntimeError("critical expectations failed: " + "; ".join(failed))

    gate(validate())  # type: ignore[arg-type]  # TaskFlow resolves the XComArg at run time


data_quality()
