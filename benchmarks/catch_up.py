"""Catch-up throughput per query: a backlog in Kafka, each pipeline query run alone to its end.

On a fresh lake, runs the pipeline's queries one after another with availableNow (the order
`paystream stream --available-now` uses) over what the topics hold, and prints for each its
rows, seconds, rows/s and the tasks and executors of its last batch's stages (the Spark UI's
REST API). On the cluster profile this shows which query spreads over the workers; run it
with one worker and with two (PAYSTREAM_SPARK__STANDALONE_WORKERS before `paystream up`).

    PAYSTREAM_PROFILE=cluster .venv/bin/paystream produce --count 20000 --rate 0 --quiet
    PAYSTREAM_PROFILE=cluster .venv/bin/python benchmarks/catch_up.py
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from benchmarks.e2e import stage_summary, stage_tasks
from lakehouse.settings import load_settings
from lakehouse.spark import build_spark_session
from spark_jobs.pipeline import LAYERS, _enabled_rules, _starter, ensure_tables, queries_for


def main() -> None:
    """Run each query over the backlog and print its figures."""
    base = load_settings()
    lake = base.home / "bench" / f"catch-up-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    settings = load_settings(lake_root=lake, pipeline=base.pipeline.model_copy(
        update={"starting_offsets": "earliest"}),
        spark=base.spark.model_copy(update={"ui_enabled": True}))
    spark = build_spark_session(settings, app_name="bench-catch-up")
    ensure_tables(spark, settings)
    executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
    print(f"master {settings.spark.master}, executors {max(executors, 0) or 'local'}")
    for name in queries_for(LAYERS, _enabled_rules(settings), settings.pipeline.risk_decisions):
        spark.sparkContext.setLocalProperty("spark.scheduler.pool", name)
        began = time.perf_counter()
        query = _starter(name)(spark, settings, True)
        query.awaitTermination()
        took = time.perf_counter() - began
        rows = sum(p["numInputRows"] for p in query.recentProgress)
        print(f"{name:<19} {rows:>8,} rows in {took:6.1f} s = {rows / took:7,.0f} rows/s; "
              f"last batch: {stage_summary(stage_tasks(spark, query))}", flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
