"""Gold on the lake path: the per-minute user and merchant activity tables.

Every rule runs on the streaming alert queries (instant, stateful), and their alerts
reach gold.alerts through the alert sink; this module only appends each micro-batch's
per-minute counts to the activity tables (one append each, carrying (txnAppId,
txnVersion), so a replayed batch adds nothing twice). The tables are additive: a key's
minute may have one row per batch that saw it, so readers sum by key and minute; the
daily backfill rewrites each closed day as one row per key and minute. An append costs
what the batch's rows cost (a MERGE read and rewrote the day's file).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from lakehouse.catalog import Catalog
from lakehouse.settings import Settings
from lakehouse.stores import delta, postgres
from lakehouse.tables import GOLD_MERCHANT_ACTIVITY_1M, GOLD_USER_ACTIVITY_1M, SILVER_TRANSACTIONS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

ACTIVITY_TABLES = ((GOLD_USER_ACTIVITY_1M, "user_id"), (GOLD_MERCHANT_ACTIVITY_1M, "merchant_id"))
"""The per-minute activity tables and the key each counts by."""
QUERY_NAME = "gold"


def activity_1m(rows: DataFrame, key: str) -> DataFrame:
    """Count and EUR sum per key per minute (pure)."""
    from pyspark.sql import functions as F

    return (
        rows.groupBy(key, F.date_trunc("minute", "event_time").alias("minute"))
        .agg(F.count(F.lit(1)).alias("payments"), F.sum("amount_eur").alias("amount_eur"))
        # decimal(28,2): a minute's sum of contract-valid amounts (each < 10^16) always fits.
        .withColumn("amount_eur", F.col("amount_eur").cast("decimal(28,2)"))
        .withColumn("event_date", F.to_date("minute"))
    )


class GoldBatch:
    """Gold of one micro-batch of new silver rows: its activity rows, then its metrics."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = Catalog(settings.lake_location)

    def __call__(self, new_rows: DataFrame, batch_id: int) -> None:
        """The foreachBatch function of the silver -> gold query (the layer-by-layer mode)."""
        new_rows = new_rows.persist()
        self.commit(new_rows, batch_id, time.perf_counter())
        new_rows.unpersist()

    def commit(self, new_rows: DataFrame, batch_id: int, started: float) -> None:
        """Append the batch's per-minute user and merchant counts and record its metrics."""
        rows_in = new_rows.count()
        if not rows_in:
            return
        for table, key in ACTIVITY_TABLES:
            delta.append_once(activity_1m(new_rows, key), self.catalog, table, table.name,
                              batch_id)
        postgres.insert_metrics(self.settings, [{
            "layer": "gold", "batch_id": batch_id, "rows_in": rows_in, "rows_out": 0,
            "duration_ms": (time.perf_counter() - started) * 1000,
            "alert_latency_p50_ms": None, "alert_latency_p99_ms": None,
        }])


def start(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
    """Start the silver -> gold query."""
    catalog = Catalog(settings.lake_location)
    source = spark.readStream.format("delta").option(
        "maxFilesPerTrigger", str(settings.pipeline.max_files_per_trigger)
    ).load(catalog.table(SILVER_TRANSACTIONS))
    writer = (source.writeStream.queryName(QUERY_NAME).foreachBatch(GoldBatch(settings))
              .option("checkpointLocation", catalog.checkpoint(QUERY_NAME)))
    writer = writer.trigger(availableNow=True) if available_now else writer.trigger(
        processingTime="0 seconds")
    return writer.start()
