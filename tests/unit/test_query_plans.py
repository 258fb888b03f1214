"""What each streaming query reads per batch, from its plans: alerts never wait for the lake."""

from __future__ import annotations

from pathlib import Path

from lakehouse.rules import load_rules
from lakehouse.settings import Settings, load_settings


def _kafka_stream(spark, settings: Settings):  # type: ignore[no-untyped-def]
    from lakehouse.stores import kafka

    return kafka.read_kafka_stream(spark, settings, "transactions")


def _relations(frame) -> str:  # type: ignore[no-untyped-def]
    return str(frame._jdf.queryExecution().analyzed().toString())


def test_instant_and_stateful_queries_read_kafka_and_nothing_else(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from spark_jobs import instant_alerts, stateful_alerts

    settings = load_settings(lake_root=tmp_path / "lake")
    for frame in (instant_alerts.transform(_kafka_stream(spark, settings), load_rules()),
                  stateful_alerts.transform(_kafka_stream(spark, settings), load_rules(), 1800)):
        plan = _relations(frame)
        assert "StreamingRelation" in plan and "kafka" in plan
        assert "delta" not in plan.lower() and "Relation[" not in plan, plan[:2000]


def test_silver_dedupe_reads_only_the_dates_and_times_near_the_batch(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from spark_jobs import silver_transactions
    from spark_jobs.pipeline import ensure_tables

    settings = load_settings(lake_root=tmp_path / "lake")
    ensure_tables(spark, settings)
    batch = silver_transactions.SilverBatch(spark, settings)
    moment = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    candidates = spark.createDataFrame([(moment,)], "event_time timestamp")
    plan = batch.recent_rows(spark, 7, candidates)._jdf.queryExecution().executedPlan().toString()
    assert "PartitionFilters: [" in plan and "event_date" in plan.split("PartitionFilters")[1]
    assert "event_time" in plan.split("PushedFilters")[1].split("]")[0]


def test_a_lake_from_an_earlier_version_is_refused_in_one_line(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from lakehouse.catalog import Catalog
    from lakehouse.errors import PaystreamError
    from spark_jobs.pipeline import ensure_tables

    settings = load_settings(lake_root=tmp_path / "lake")
    ensure_tables(spark, settings)
    path = Catalog(settings.lake).table("silver.transactions")
    old = spark.read.format("delta").load(path).drop("payload_sha256")
    old.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    with pytest.raises(PaystreamError, match="earlier Paystream.*fresh PAYSTREAM_LAKE_ROOT"):
        ensure_tables(spark, settings)
