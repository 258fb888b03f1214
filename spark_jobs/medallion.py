"""The whole medallion as one Kafka query: each micro-batch lands bronze, then silver, then gold.

Chaining three streaming queries through Delta costs at least one micro-batch
per hop (bronze commits, silver's Delta source sees the commit on its next
trigger, then gold's does). This query reads Kafka `transactions` once and, per
batch, appends the records to bronze, lands the same rows in silver and judges
the rows silver adds, so an alert is published within one micro-batch of its
event arriving. The alerts leave (Kafka `alerts`, PostgreSQL) before the Delta
commits, which then take the rest of the batch.

The tables and their guarantees are the layer queries' own: the same
functions write them with the same (txnAppId, txnVersion = batch id), so a
batch replayed after a crash computes the same rows against the other
batches' data, republishes its alerts, and its Delta appends already made are
skipped table by table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.catalog import Catalog
from lakehouse.errors import PaystreamError
from lakehouse.settings import Settings
from spark_jobs import bronze_transactions_raw, gold_alerts, io, silver_transactions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

QUERY_NAME = "medallion"
LAYER_QUERIES = ("bronze", "silver")


class MedallionBatch:
    """The foreachBatch function of the medallion query."""

    def __init__(self, spark: SparkSession, settings: Settings) -> None:
        self.catalog = Catalog(settings.lake)
        self.silver = silver_transactions.SilverBatch(spark, settings)
        self.gold = gold_alerts.GoldBatch(settings)

    def __call__(self, kafka_rows: DataFrame, batch_id: int) -> None:
        """Land one batch of Kafka records: alerts out first, then the Delta commits."""
        bronze = bronze_transactions_raw.transform(kafka_rows).persist()
        landing = self.silver.prepare(bronze, batch_id)
        silver_view = self.silver.other_batches(bronze.sparkSession, batch_id).unionByName(
            landing.new_rows)
        judgement = self.gold.judge(landing.new_rows, silver_view, batch_id)
        if judgement is not None:
            self.gold.publish(judgement)
        io.append_idempotent(bronze, self.catalog.table(bronze_transactions_raw.TABLE),
                             bronze_transactions_raw.TABLE, batch_id,
                             bronze_transactions_raw.PARTITION_BY)
        self.silver.commit(landing)
        if judgement is not None:
            self.gold.commit(judgement)
            judgement.release()
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
    catalog = Catalog(settings.lake)
    refuse_mixed_checkpoints(catalog, QUERY_NAME)
    source = io.read_kafka_stream(spark, settings, "transactions",
                                  settings.pipeline.max_offsets_per_trigger)
    writer = (source.writeStream.queryName(QUERY_NAME)
              .foreachBatch(MedallionBatch(spark, settings))
              .option("checkpointLocation", catalog.checkpoint(QUERY_NAME)))
    writer = writer.trigger(availableNow=True) if available_now else writer.trigger(
        processingTime="0 seconds")
    return writer.start()
