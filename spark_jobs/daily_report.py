"""Daily backfill: one day's gold recomputed from silver with the batch rules, and its report.

For a date D (the DAG's logical date):
1. gold.alerts for D: the streamed alerts stay as they are; alerts the batch
   rules find that the stream did not are added, through the table's writer
   (spark_jobs.gold_alerts.merge_day: replaceWhere on the event_date partition,
   so a rerun replaces the same partition with the same rows).
2. gold.user_activity_1m and gold.merchant_activity_1m for D: recomputed from
   silver (replaceWhere on event_date).
3. gold.daily_report for D: volume, count and EUR amount by currency, country
   and MCC, alerts by rule and severity, top users and merchants by alerts,
   quarantine counts by reason, and streamed-versus-batch reconciliation
   (replaceWhere on report_date); mirrored to PostgreSQL payments.daily_reports.

A day the stream may still write to (it has not ended plus the allowed
lateness) gets its report only, "so far": steps 1 and 2 would conflict with
the stream's appends to the same partitions, and their rows are not final yet.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from lakehouse.catalog import Catalog
from lakehouse.settings import Settings
from lakehouse.stores import delta, postgres
from lakehouse.tables import GOLD_DAILY_REPORT, SILVER_QUARANTINE, SILVER_TRANSACTIONS
from spark_jobs import gold_alerts
from spark_jobs.gold_activity import ACTIVITY_TABLES, activity_1m

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

TOP_N = 10


def _sorted_structs(*fields: Column | str) -> Column:
    from pyspark.sql import functions as F

    return F.sort_array(F.collect_list(F.struct(*fields)))


def _breakdown(silver_day: DataFrame, key: str, name: str) -> DataFrame:
    """Count and EUR amount per value of key, as one row holding a sorted array."""
    from pyspark.sql import functions as F

    per_key = silver_day.groupBy(key).agg(F.count(F.lit(1)).alias("payments"),
                                          F.sum("amount_eur").alias("amount_eur"))
    return per_key.agg(_sorted_structs(F.col(key), "payments", "amount_eur").alias(name))


def _top_by_alerts(alerts_day: DataFrame, key: str, name: str) -> DataFrame:
    """The TOP_N values of key with the most alerts (ties by key), as one row."""
    from pyspark.sql import functions as F

    per_key = alerts_day.groupBy(key).agg(F.count(F.lit(1)).alias("alerts"))
    ranked = _sorted_structs((-F.col("alerts")).alias("rank"), F.col(key), "alerts")
    return per_key.agg(F.transform(F.slice(ranked, 1, TOP_N),
                                   lambda s: F.struct(s[key].alias(key), s["alerts"].alias(
                                       "alerts"))).alias(name))


def report(report_date: date, silver_day: DataFrame, quarantine_day: DataFrame,
           streamed: DataFrame, batch: DataFrame, alerts_day: DataFrame) -> DataFrame:
    """The one-row daily report of a date (pure: DataFrames in, a DataFrame out)."""
    from pyspark.sql import functions as F

    volume = silver_day.agg(
        F.count(F.lit(1)).alias("payments"),
        F.coalesce(F.sum("amount_eur"), F.lit(0)).cast("decimal(28,2)").alias("amount_eur"),
        F.countDistinct("user_id").alias("users"),
        F.countDistinct("merchant_id").alias("merchants"))
    by_rule = alerts_day.groupBy("rule_id", "severity").agg(
        F.count(F.lit(1)).alias("alerts")).agg(
        _sorted_structs("rule_id", "severity", "alerts").alias("alerts_by_rule"))
    reasons = quarantine_day.select(F.explode("reasons").alias("reason")).groupBy("reason").agg(
        F.count(F.lit(1)).alias("records")).agg(
        _sorted_structs("reason", "records").alias("quarantine_by_reason"))
    streamed_ids = streamed.select("alert_id", F.lit(True).alias("streamed"))
    batch_ids = batch.select("alert_id", F.lit(True).alias("batch"))
    both = streamed_ids.join(batch_ids, "alert_id", "full_outer")
    reconciliation = both.agg(
        F.count("streamed").alias("streamed_alerts"),
        F.count("batch").alias("batch_alerts"),
        F.count(F.when(F.col("batch").isNull(), 1)).alias("alerts_only_streamed"),
        F.count(F.when(F.col("streamed").isNull(), 1)).alias("alerts_only_batch"))
    sections = [
        volume,
        _breakdown(silver_day, "currency", "by_currency"),
        _breakdown(silver_day, "country", "by_country"),
        _breakdown(silver_day, "merchant_category", "by_mcc"),
        by_rule,
        _top_by_alerts(alerts_day, "user_id", "top_users"),
        _top_by_alerts(alerts_day, "merchant_id", "top_merchants"),
        reasons,
        reconciliation,
    ]
    row = sections[0]
    for section in sections[1:]:
        row = row.crossJoin(section)
    return row.select(F.lit(report_date).alias("report_date"), "*",
                      F.current_timestamp().alias("generated_at"))


def day_is_closed(day: date, now: datetime, allowed_lateness_s: int) -> bool:
    """True once a day has ended and its late payments can no longer arrive (pure)."""
    end = datetime.combine(day + timedelta(days=1), time(), UTC)
    return now >= end + timedelta(seconds=allowed_lateness_s)


def run(spark: SparkSession, settings: Settings, day: date,
        now: datetime | None = None) -> dict[str, Any]:
    """Backfill one date: gold alerts and activity from silver, then its report; return it.

    A day not yet closed (see day_is_closed) gets its report only, leaving gold to the stream.
    """
    from pyspark.sql import functions as F

    from spark_jobs.gold_batch import batch_alerts
    from spark_jobs.pipeline import ensure_tables

    ensure_tables(spark, settings)
    catalog = Catalog(settings.lake_location)
    silver_day = delta.read_table(spark, catalog, SILVER_TRANSACTIONS).where(
        F.col("event_date") == F.lit(day)).localCheckpoint()
    quarantine_day = delta.read_table(spark, catalog, SILVER_QUARANTINE).where(
        F.col("quarantine_date") == F.lit(day))
    batch = batch_alerts(spark, settings, day, day).localCheckpoint()
    closed = day_is_closed(day, now or datetime.now(UTC), settings.pipeline.allowed_lateness_s)
    kept, alerts_day = gold_alerts.merge_day(batch, catalog, day, closed)
    streamed = gold_alerts.streamed(kept)
    if closed:
        for table, key in ACTIVITY_TABLES:
            delta.replace_day(activity_1m(silver_day, key), catalog, table, day)
    row = report(day, silver_day, quarantine_day, streamed, batch, alerts_day).localCheckpoint()
    delta.replace_day(row, catalog, GOLD_DAILY_REPORT, day)
    document: dict[str, Any] = json.loads(str(row.toJSON().first() or "{}"))
    postgres.upsert_daily_report(settings, day, document)
    return document


def report_day_of(context: Any) -> date:
    """The date an Airflow run reports on: its logical date, or the day it was run for."""
    moment = context.get("logical_date") or context["dag_run"].run_after
    return date(moment.year, moment.month, moment.day)
