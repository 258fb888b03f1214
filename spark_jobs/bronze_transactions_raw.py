"""Bronze: every Kafka record of `transactions`, exactly as received, into bronze.transactions_raw.

Bronze never drops or alters a record. The Delta streaming sink commits each
micro-batch with the query id and batch id (txnAppId/txnVersion), and the
checkpoint holds the Kafka offsets, so a restart writes nothing twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.catalog import Catalog
from lakehouse.settings import Settings
from lakehouse.stores import kafka
from lakehouse.tables import BRONZE_TRANSACTIONS_RAW

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

QUERY_NAME = "bronze"


def transform(kafka_df: DataFrame) -> DataFrame:
    """Kafka rows as bronze rows: key, value and headers untouched, plus coordinates and times."""
    from pyspark.sql import functions as F

    return kafka_df.select(
        "key",
        "value",
        "headers",
        "topic",
        "partition",
        "offset",
        F.col("timestamp").alias("kafka_timestamp"),
        F.current_timestamp().alias("ingest_time"),
        F.to_date(F.col("timestamp")).alias("ingest_date"),
    )


def start(spark: SparkSession, settings: Settings, available_now: bool,
          max_offsets_per_trigger: int | None = None) -> StreamingQuery:
    """Start the Kafka -> bronze query."""
    catalog = Catalog(settings.lake_location)
    source = kafka.read_kafka_stream(spark, settings, "transactions", max_offsets_per_trigger)
    writer = (
        transform(source).writeStream.format("delta").queryName(QUERY_NAME)
        .option("checkpointLocation", catalog.checkpoint(QUERY_NAME))
        .partitionBy(*BRONZE_TRANSACTIONS_RAW.partition_by).outputMode("append")
    )
    writer = writer.trigger(availableNow=True) if available_now else writer.trigger(
        processingTime="0 seconds")
    return writer.start(catalog.table(BRONZE_TRANSACTIONS_RAW))
