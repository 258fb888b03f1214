"""Rule backtest: score a rule set on the labelled lake, on demand (never scheduled).

Trigger it with params (Airflow UI "Trigger DAG w/ config", or
`airflow dags trigger rule_backtest --conf '{"rules_file": "config/rules.yaml"}'`):
`rules_file` (default PAYSTREAM_RULES_FILE), `from` and `to` (event dates,
default all of silver), `compare` (a candidate rules file, shadow mode) and
`sweep` (`rule.param=v1,v2`). It runs the same code as `paystream backtest`
and stores the text, JSON and HTML report under `$PAYSTREAM_HOME/backtests`,
which the dashboard's "Backtests" page lists. Nothing is written to
gold.alerts or PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task


@dag(
    dag_id="rule_backtest",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["paystream", "rules", "backtest"],
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    params={
        "rules_file": Param("", type="string", description="rules file; empty = the setting"),
        "from": Param("", type="string", description="first event date YYYY-MM-DD; empty = all"),
        "to": Param("", type="string", description="last event date YYYY-MM-DD; empty = all"),
        "compare": Param("", type="string", description="a candidate rules file (optional)"),
        "sweep": Param("", type="string", description="rule.param=v1,v2 (optional)"),
    },
    doc_md=__doc__,
)
def rule_backtest() -> None:
    """Backtest the rules file the params name."""

    @task
    def backtest() -> dict[str, Any]:
        """Run the backtest and store its report; return where it is and the headline."""
        from datetime import date
        from pathlib import Path

        from lakehouse import PROJECT_ROOT
        from lakehouse.settings import load_settings
        from lakehouse.spark import build_spark_session
        from spark_jobs.backtest_job import BacktestRequest, run_backtest_job

        params = get_current_context()["params"]

        def path(text: str) -> Path | None:
            return (Path(text) if Path(text).is_absolute() else PROJECT_ROOT / text) \
                if text else None

        def day(text: str) -> date | None:
            return date.fromisoformat(text) if text else None

        settings = load_settings()
        request = BacktestRequest(path(params["rules_file"]) or settings.rules_file,
                                  day(params["from"]), day(params["to"]),
                                  path(params["compare"]), params["sweep"] or None)
        spark = build_spark_session(settings, app_name="paystream-backtest")
        outcome = run_backtest_job(spark, settings, request)
        overall = outcome.document["overall"]
        return {"html": str(outcome.html), "alerts": overall["alerts"],
                "precision": overall["precision"], "recall": overall["recall"]}

    backtest()


rule_backtest()
