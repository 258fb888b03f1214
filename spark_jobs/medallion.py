"""The lake query: each micro-batch of Kafka `transactions` lands bronze, then silver, then gold.

Per batch: the records to bronze; silver's contract check, lateness and
deduplication (spark_jobs.silver_transactions) to silver, quarantine, the
dead-letter and `transactions_clean` topics; the per-minute activity tables
(spark_jobs.gold_activity). Alerts never wait for this query: the instant and
stateful queries judge the same Kafka records on their own.
A trigger interval (`pipeline.lake_trigger_s`) favours throughput over latency.

Every write is idempotent per batch: Delta appends carry (txnAppId,
txnVersion = batch id), so a batch replayed after a crash computes the same
rows and its appends already made are skipped table by table.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from lakehouse.catalog import Catalog
from lakehouse.errors import PaystreamError
from lakehouse.settings import Settings
from lakehouse.stores import delta, kafka
from lakehouse.tables import BRONZE_TRANSACTIONS_RAW
from spark_jobs import bronze_transactions_raw, gold_activity, silver_transactions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

QUERY_NAME = "medallion"
LAYER_QUERIES = ("bronze", "silver")


class MedallionBatch:
    """The foreachBatch function of the medallion query."""

    def __init__(self, spark: SparkSession, settings: Settings) -> None:
        self.catalog = Catalog(settings.lake_location)
        self.silver = silver_transactions.SilverBatch(spark, settings)
        self.gold = gold_activity.GoldBatch(settings)

    def __call__(self, kafka_rows: DataFrame, batch_id: int) -> None:
        """Land one batch of Kafka records: bronze, silver (with quarantine), then gold."""
        bronze = bronze_transactions_raw.transform(kafka_rows).persist()
        landing = self.silver.prepare(bronze, batch_id)
        started = time.perf_counter()
        delta.append_once(bronze, self.catalog, BRONZE_TRANSACTIONS_RAW,
                          BRONZE_TRANSACTIONS_RAW.name, batch_id)
        self.silver.commit(landing)
        self.gold.commit(landing.new_rows, batch_id, started)
        landing.release()
        bronze.unpersist()


def refuse_mixed_checkpoints(catalog: Catalog, starting: str) -> None:
    """Refuse to run the medallion query on a lake the layer queries fed, and the reverse.

    Both read Kafka from their own checkpoint, so switching would land records twice.
    """
    from pathlib import Path

    others = LAYER_QUERIES if starting == QUERY_NAME else (QUERY_NAME,)
    found = [name for name in others if Path(catalog.checkpoint(name)).exists()]
    if found:
        raise PaystreamError(
            f"this lake was fed by the {', '.join(found)} quer{'ies' if len(found) > 1 else 'y'} "
            f"({catalog.checkpoint(found[0])}); keep running it that way, or use a fresh "
            "PAYSTREAM_LAKE_ROOT")


def start(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
    """Start the Kafka -> bronze -> silver -> gold query."""
    catalog = Catalog(settings.lake_location)
    refuse_mixed_checkpoints(catalog, QUERY_NAME)
    source = kafka.read_kafka_stream(spark, settings, "transactions",
                                     settings.pipeline.max_offsets_per_trigger)
    writer = (source.writeStream.queryName(QUERY_NAME)
              .foreachBatch(MedallionBatch(spark, settings))
              .option("checkpointLocation", catalog.checkpoint(QUERY_NAME)))
    writer = writer.trigger(availableNow=True) if available_now else writer.trigger(
        processingTime=f"{settings.pipeline.lake_trigger_s} seconds")
    return writer.start()
