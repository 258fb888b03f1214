"""Each table's declared schema against what its writers build, and the write handles' refusals:
a module that is not a declared writer, or rows that drift from the declaration, never land."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from lakehouse import tables
from lakehouse.catalog import Catalog
from lakehouse.errors import PaystreamError
from lakehouse.fx import eur_per_unit
from lakehouse.mcc import category_factors
from lakehouse.reference_stats import learn_factors
from lakehouse.stores import delta


def _built_by_the_writers(spark: Any) -> dict[tables.Table, Any]:
    """Each table's rows as its writers build them, from empty input."""
    from pyspark.sql import functions as F

    from spark_jobs import (
        bronze_transactions_raw,
        daily_report,
        reference_stats,
        silver_transactions,
    )
    from spark_jobs.alert_sink import from_kafka_messages
    from spark_jobs.gold_activity import activity_1m
    from spark_jobs.pipeline import KAFKA_SOURCE_SCHEMA

    kafka = spark.createDataFrame([], KAFKA_SOURCE_SCHEMA)
    bronze = bronze_transactions_raw.transform(kafka)
    checked = silver_transactions.check_contract(bronze, eur_per_unit())
    silver = silver_transactions.to_silver_rows(checked, 0)
    quarantine = silver_transactions.to_quarantine_rows(checked, 0)
    alerts = from_kafka_messages(kafka).drop("kafka_timestamp", "payment_kafka_time")
    gold = alerts.withColumn("gold_batch_id", F.lit(0).cast("long"))
    return {
        tables.BRONZE_TRANSACTIONS_RAW: bronze,
        tables.SILVER_TRANSACTIONS: silver,
        tables.SILVER_QUARANTINE: quarantine,
        tables.GOLD_ALERTS: gold,
        tables.GOLD_USER_ACTIVITY_1M: activity_1m(silver, "user_id"),
        tables.GOLD_MERCHANT_ACTIVITY_1M: activity_1m(silver, "merchant_id"),
        tables.GOLD_DAILY_REPORT: daily_report.report(date(2026, 1, 1), silver, quarantine,
                                                      gold, alerts, gold),
        tables.GOLD_CATEGORY_FACTORS: reference_stats.factor_rows(
            spark, learn_factors([], category_factors()), None, None,
            datetime(2026, 1, 1, tzinfo=UTC)),
    }


def test_what_each_writer_builds_is_exactly_its_table_s_declaration(spark) -> None:  # type: ignore[no-untyped-def]
    built = _built_by_the_writers(spark)
    # gold.labels and gold.risk_models are built from their declared schemas
    assert set(built) | {tables.GOLD_LABELS, tables.GOLD_RISK_MODELS} == set(tables.TABLES)
    for table, frame in built.items():
        assert delta.schema_drift(frame, table) == [], table


def test_a_table_is_born_with_its_declared_schema_and_partitioning(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from delta.tables import DeltaTable

    catalog = Catalog(tmp_path)
    for table in (tables.GOLD_DAILY_REPORT,):  # nested types, a date partition
        path = delta.ensure_table(spark, catalog, table)
        assert delta.schema_drift(delta.read_table(spark, catalog, table), table) == []
        detail = DeltaTable.forPath(spark, path).detail().first()
        assert detail is not None and tuple(detail["partitionColumns"]) == table.partition_by


def test_an_undeclared_writer_is_refused_before_anything_lands(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    catalog = Catalog(tmp_path)
    rows = spark.createDataFrame([], delta.declared_schema(tables.GOLD_ALERTS))
    refusal = (r"^tests\.unit\.test_table_schemas writes gold\.alerts, "
               r"whose declared writers are spark_jobs\.gold_alerts")
    with pytest.raises(PaystreamError, match=refusal):
        delta.append_once(rows, catalog, tables.GOLD_ALERTS, "test", 0)
    assert not delta.delta_exists(spark, catalog.table(tables.GOLD_ALERTS))


def test_drift_names_each_renamed_retyped_or_missing_column(spark) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    labels = spark.createDataFrame([], delta.declared_schema(tables.GOLD_LABELS))
    drifted = (labels.withColumnRenamed("label", "verdict")
               .withColumn("labelled_at", F.col("labelled_at").cast("string"))
               .drop("scenario"))
    assert delta.schema_drift(drifted, tables.GOLD_LABELS) == [
        "labelled_at is string, declared timestamp", "verdict is not declared",
        "label is missing", "scenario is missing"]
