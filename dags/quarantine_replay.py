"""Quarantine replay, on demand: after the cause of a quarantine is fixed (a late batch to
take in, a currency added to the FX table and the contract), re-send the quarantined
records of one reason to Kafka `transactions`.

The running stream judges each again: a record that now passes lands in silver (once, even
if replayed twice), one that still fails is quarantined again. Trigger it with the params
`reason` (e.g. too_late) and `since` (YYYY-MM-DD, optional). It runs the same code as
`paystream quarantine replay --reason R --since D`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task


@dag(
    dag_id="quarantine_replay",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={"reason": Param("too_late", type="string"),
            "since": Param(None, type=["null", "string"], format="date")},
    tags=["paystream", "quarantine", "replay"],
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    doc_md=__doc__,
)
def quarantine_replay() -> None:
    """Replay the quarantined records the params select."""

    @task
    def replay(params: dict[str, str | None] | None = None) -> dict[str, object]:
        """Send the selected records to `transactions` and mark them; return the replay."""
        from datetime import date

        from lakehouse.quarantine import ReplayRequest
        from lakehouse.settings import load_settings
        from lakehouse.spark import build_spark_session
        from spark_jobs.quarantine_replay import replay as replay_records

        chosen = params or {}
        since = chosen.get("since")
        request = ReplayRequest(reason=chosen.get("reason"),
                                since=date.fromisoformat(since) if since else None)
        settings = load_settings()
        spark = build_spark_session(settings, app_name="quarantine-replay")
        try:
            result = replay_records(spark, settings, request)
        finally:
            spark.stop()
        return {"replay_id": result.replay_id, "sent": result.sent}

    replay()


quarantine_replay()
