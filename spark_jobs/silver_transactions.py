"""Silver: bronze records parsed, validated, deduplicated and normalised to EUR.

Per micro-batch of bronze rows:
1. Check each raw value against the contract (the JSON Schema plus time and size
   bounds, judged at the record's Kafka timestamp), with the same validator the
   tests use, so the reasons match the contract's reason codes.
2. Valid events become typed rows with amount as decimal(18,2) and amount_eur.
3. Events older than the watermark (the newest event time of earlier batches
   minus the allowed lateness) are quarantined as `too_late`, never dropped.
4. Deduplication by transaction_id is against the whole silver table: the
   batch keeps the rows whose id no other batch landed (a left anti join, the
   insert-only MERGE's own plan) and appends them with (txnAppId, txnVersion),
   so a replayed batch computes the same rows and its append is skipped. The
   table rather than keyed streaming state: it holds across restarts, has no
   watermark horizon (a resend a month later is still caught), and costs no
   state store to keep. Silver has one writer (the medallion or the silver
   query, never both), which is what makes the anti join equal to a MERGE.
5. Invalid events go to silver.quarantine with every reason, and to the
   dead-letter topic with the reasons in headers; new silver rows go to
   `transactions_clean`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakehouse.catalog import Catalog
from lakehouse.settings import Settings
from spark_jobs import io

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

TABLE = "silver.transactions"
QUARANTINE = "silver.quarantine"
QUERY_NAME = "silver"
PARTITION_BY = ("event_date",)
QUARANTINE_PARTITION_BY = ("quarantine_date",)
TOO_LATE = "too_late"


def fx_rates(spark: SparkSession) -> DataFrame:
    """The reference FX table as a small DataFrame (currency, eur_per_unit)."""
    from pyspark.sql import types as T

    from lakehouse.fx import eur_per_unit

    schema = T.StructType([T.StructField("currency", T.StringType()),
                           T.StructField("eur_per_unit", T.DecimalType(18, 8))])
    return spark.createDataFrame(list(eur_per_unit().items()), schema)


def check_contract(bronze: DataFrame) -> DataFrame:
    """Bronze rows with a `reasons` column (empty = valid)."""
    from pyspark.sql import functions as F

    from spark_jobs.contract_udf import contract_reasons

    return bronze.withColumn(
        "reasons", contract_reasons(F.col("value"), F.unix_millis(F.col("kafka_timestamp"))))


def to_silver_rows(valid: DataFrame, fx: DataFrame, batch_id: int) -> DataFrame:
    """Valid bronze rows as typed silver rows with amount_eur and their source coordinates."""
    from pyspark.sql import functions as F

    from lakehouse.spark_schema import event_spark_schema

    parsed = valid.withColumn("e", F.from_json(F.col("value").cast("string"),
                                               event_spark_schema()))
    amount = F.col("e.amount").cast("decimal(18,2)")
    rows = parsed.select(
        F.col("e.transaction_id").alias("transaction_id"),
        F.col("e.user_id").alias("user_id"),
        F.col("e.card_id").alias("card_id"),
        amount.alias("amount"),
        F.col("e.currency").alias("currency"),
        F.col("e.merchant_id").alias("merchant_id"),
        F.col("e.merchant_category").alias("merchant_category"),
        F.to_timestamp(F.col("e.timestamp")).alias("event_time"),
        F.col("e.location.country").alias("country"),
        F.col("e.location.city").alias("city"),
        F.col("e.location.lat").alias("lat"),
        F.col("e.location.lon").alias("lon"),
        F.col("e.channel").alias("channel"),
        F.col("e.schema_version").cast("int").alias("schema_version"),
        F.col("topic").alias("source_topic"),
        F.col("partition").alias("source_partition"),
        F.col("offset").alias("source_offset"),
        "kafka_timestamp",
        "ingest_time",
    )
    return (
        rows.join(F.broadcast(fx), "currency", "left")
        .withColumn("amount_eur", F.bround(F.col("amount") * F.col("eur_per_unit"), 2)
                    .cast("decimal(18,2)"))
        .drop("eur_per_unit")
        .withColumn("event_date", F.to_date("event_time"))
        .withColumn("silver_batch_id", F.lit(batch_id).cast("long"))
        .withColumn("silver_time", F.current_timestamp())
        .select("transaction_id", "user_id", "card_id", "amount", "currency", "amount_eur",
                "merchant_id", "merchant_category", "event_time", "event_date", "country",
                "city", "lat", "lon", "channel", "schema_version", "source_topic",
                "source_partition", "source_offset", "kafka_timestamp", "ingest_time",
                "silver_batch_id", "silver_time")
    )


def first_per_transaction(rows: DataFrame) -> DataFrame:
    """Within one batch, keep the earliest record (by Kafka coordinates) of each transaction."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.partitionBy("transaction_id").orderBy("source_partition", "source_offset")
    return rows.withColumn("_n", F.row_number().over(order)).where("_n = 1").drop("_n")


def to_quarantine_rows(rows: DataFrame, batch_id: int) -> DataFrame:
    """Bronze rows with reasons as quarantine rows: the raw value, coordinates and every reason."""
    from pyspark.sql import functions as F

    return rows.select(
        "key", "value", "headers",
        F.col("topic").alias("source_topic"),
        F.col("partition").alias("source_partition"),
        F.col("offset").alias("source_offset"),
        "kafka_timestamp", "ingest_time", "reasons",
        F.col("reasons")[0].alias("primary_reason"),
        F.current_timestamp().alias("quarantined_at"),
        F.to_date("kafka_timestamp").alias("quarantine_date"),
        F.lit(batch_id).cast("long").alias("silver_batch_id"),
    )


def transform(bronze: DataFrame, fx: DataFrame, batch_id: int,
              watermark: Any | None) -> tuple[DataFrame, DataFrame]:
    """Split bronze rows into (silver candidates, quarantine rows); pure, no I/O."""
    return split_checked(check_contract(bronze), fx, batch_id, watermark)


def split_checked(checked: DataFrame, fx: DataFrame, batch_id: int,
                  watermark: Any | None) -> tuple[DataFrame, DataFrame]:
    """Split contract-checked bronze rows into (silver candidates, quarantine rows)."""
    from pyspark.sql import functions as F

    valid = checked.where(F.size("reasons") == 0)
    invalid = checked.where(F.size("reasons") > 0)
    typed = to_silver_rows(valid, fx, batch_id)
    if watermark is not None:
        late_keys = typed.where(F.col("event_time") < F.lit(watermark)).select(
            F.col("source_partition").alias("partition"), F.col("source_offset").alias("offset"))
        too_late = valid.join(late_keys, ["partition", "offset"], "left_semi").withColumn(
            "reasons", F.array(F.lit(TOO_LATE)))
        invalid = invalid.unionByName(too_late)
        typed = typed.where(F.col("event_time") >= F.lit(watermark))
    return first_per_transaction(typed), to_quarantine_rows(invalid, batch_id)


@dataclass
class SilverLanding:
    """One prepared silver batch: checked bronze rows, new silver rows and quarantine rows."""

    batch_id: int
    started: float
    checked: DataFrame
    new_rows: DataFrame
    quarantine_rows: DataFrame

    def release(self) -> None:
        """Drop the cached frames."""
        for frame in (self.checked, self.new_rows, self.quarantine_rows):
            frame.unpersist()


class SilverBatch:
    """The foreachBatch function of the silver query, holding the watermark between batches."""

    def __init__(self, spark: SparkSession, settings: Settings) -> None:
        self.settings = settings
        self.catalog = Catalog(settings.lake)
        self.fx = fx_rates(spark).cache()
        self.max_event_time_by_batch = self._load_watermarks(spark)

    def _load_watermarks(self, spark: SparkSession) -> dict[int, Any]:
        from pyspark.sql import functions as F

        path = self.catalog.table(TABLE)
        if not io.delta_exists(spark, path):
            return {}
        rows = (io.read_delta(spark, path).groupBy("silver_batch_id")
                .agg(F.max("event_time").alias("m")).collect())
        return {int(r["silver_batch_id"]): r["m"] for r in rows}

    def watermark(self, batch_id: int) -> Any | None:
        """Newest event time of all earlier batches, minus the allowed lateness."""
        from datetime import timedelta

        earlier = [m for b, m in self.max_event_time_by_batch.items() if b < batch_id and m]
        if not earlier:
            return None
        return max(earlier) - timedelta(seconds=self.settings.pipeline.allowed_lateness_s)

    def __call__(self, bronze: DataFrame, batch_id: int) -> None:
        """Process one micro-batch of bronze rows."""
        bronze = bronze.persist()
        landing = self.prepare(bronze, batch_id)
        self.commit(landing)
        landing.release()
        bronze.unpersist()

    def prepare(self, bronze: DataFrame, batch_id: int) -> SilverLanding:
        """Check, type and deduplicate one batch of bronze rows, writing nothing yet."""
        import time


        started = time.perf_counter()
        checked = check_contract(bronze).persist()  # the contract UDF runs once per row
        candidates, quarantine_rows = split_checked(checked, self.fx, batch_id,
                                                    self.watermark(batch_id))
        landed_before = self.other_batches(bronze.sparkSession, batch_id).select("transaction_id")
        # localCheckpoint, not persist: a cached plan that reads silver is recomputed by Spark
        # as soon as silver is written, which would run the batch twice.
        new_rows = candidates.join(landed_before, "transaction_id", "left_anti").localCheckpoint()
        return SilverLanding(batch_id, started, checked, new_rows, quarantine_rows.persist())

    def other_batches(self, spark: SparkSession, batch_id: int) -> DataFrame:
        """The silver rows every other batch landed."""
        from pyspark.sql import functions as F

        return io.read_delta(spark, self.catalog.table(TABLE)).where(
            F.col("silver_batch_id") != batch_id)

    def commit(self, landing: SilverLanding) -> None:
        """Append the batch to silver and quarantine, publish it, and record its metrics."""
        import time

        from pyspark.sql import functions as F

        batch_id = landing.batch_id
        summary = landing.new_rows.agg(F.max("event_time"), F.count(F.lit(1))).first()
        newest, rows_out = (summary[0], int(summary[1])) if summary else (None, 0)
        quarantined = landing.quarantine_rows.count()
        # Empty frames are not written: each write is a Spark job and a Delta commit or Kafka
        # round trip, the fixed cost that dominates a small batch.
        if rows_out:
            io.append_idempotent(landing.new_rows, self.catalog.table(TABLE),
                                 "silver.transactions", batch_id, PARTITION_BY)
        if quarantined:
            io.append_idempotent(landing.quarantine_rows, self.catalog.table(QUARANTINE),
                                 "silver.quarantine", batch_id, QUARANTINE_PARTITION_BY)
        if newest is not None:
            self.max_event_time_by_batch[batch_id] = newest
        self._publish(landing.new_rows if rows_out else None,
                      landing.quarantine_rows if quarantined else None)
        io.insert_metrics(self.settings, [{
            "layer": "silver", "batch_id": batch_id, "rows_in": landing.checked.count(),
            "rows_out": rows_out,
            "duration_ms": (time.perf_counter() - landing.started) * 1000,
            "details": {"quarantined": quarantined},
        }])

    def _publish(self, inserted: DataFrame | None, quarantine_rows: DataFrame | None) -> None:
        """New silver rows to `transactions_clean`; quarantined ones to the dead-letter topic."""
        from pyspark.sql import functions as F

        if inserted is not None:
            clean = inserted.select(
                F.col("user_id").cast("binary").alias("key"),
                F.to_json(F.struct(*[c for c in inserted.columns
                                     if c not in ("silver_batch_id", "silver_time")]))
                .cast("binary").alias("value"))
            io.write_kafka(clean, self.settings, "transactions_clean")
        if quarantine_rows is None:
            return
        dead = quarantine_rows.select(
            "key", "value",
            F.array(
                F.struct(F.lit("reasons").alias("key"),
                         F.concat_ws(",", "reasons").cast("binary").alias("value")),
                F.struct(F.lit("source").alias("key"),
                         F.format_string("%s/%d/%d", "source_topic", "source_partition",
                                         "source_offset").cast("binary").alias("value")),
            ).alias("headers"))
        io.write_kafka(dead, self.settings, "transactions_dlq")


def start(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
    """Start the bronze -> silver query."""
    catalog = Catalog(settings.lake)
    batch = SilverBatch(spark, settings)
    source = spark.readStream.format("delta").option(
        "maxFilesPerTrigger", str(settings.pipeline.max_files_per_trigger)
    ).load(catalog.table("bronze.transactions_raw"))
    writer = (source.writeStream.queryName(QUERY_NAME).foreachBatch(batch)
              .option("checkpointLocation", catalog.checkpoint(QUERY_NAME)))
    writer = writer.trigger(availableNow=True) if available_now else writer.trigger(
        processingTime="0 seconds")
    return writer.start()
