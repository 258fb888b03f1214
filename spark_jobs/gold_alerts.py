"""Gold: fraud and velocity rules over new silver rows; alerts to Delta, Kafka and PostgreSQL.

Per micro-batch of new silver rows, the rules (lakehouse.rules, the same
functions the batch backfill uses) run over the neighbourhood those rows
touch: every silver row of the same users or merchants within the rules'
lookback before and after. Alerts MERGE into gold.alerts on their
deterministic alert_id; the ones this batch inserted go to Kafka `alerts`
(keyed by user_id) and to PostgreSQL payments.alerts (upsert on alert_id).
The per-minute activity tables are recomputed from silver for the minutes the
batch touched, so a replayed batch writes the same values.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from lakehouse.catalog import Catalog
from lakehouse.rules import Rule, evaluate_rules, load_rules, lookback_seconds
from lakehouse.settings import Settings
from spark_jobs import io

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

TABLE = "gold.alerts"
USER_ACTIVITY = "gold.user_activity_1m"
MERCHANT_ACTIVITY = "gold.merchant_activity_1m"
QUERY_NAME = "gold"
PARTITION_BY = ("event_date",)


def neighbourhood(silver: DataFrame, new_rows: DataFrame, lookback_s: int,
                  bounds: tuple[datetime, datetime]) -> DataFrame:
    """Silver rows of the users or merchants in new_rows, within the lookback around them."""
    from pyspark.sql import functions as F

    low, high = bounds[0] - timedelta(seconds=lookback_s), bounds[1] + timedelta(seconds=lookback_s)
    in_time = silver.where(F.col("event_time").between(F.lit(low), F.lit(high)))
    users = new_rows.select("user_id").distinct()
    merchants = new_rows.select("merchant_id").distinct()
    by_user = in_time.join(F.broadcast(users), "user_id", "left_semi")
    by_merchant = in_time.join(F.broadcast(merchants), "merchant_id", "left_semi")
    return by_user.unionByName(by_merchant).dropDuplicates(["transaction_id"])


def activity_1m(rows: DataFrame, key: str) -> DataFrame:
    """Count and EUR sum per key per minute (pure)."""
    from pyspark.sql import functions as F

    return (
        rows.groupBy(key, F.date_trunc("minute", "event_time").alias("minute"))
        .agg(F.count(F.lit(1)).alias("payments"), F.sum("amount_eur").alias("amount_eur"))
        .withColumn("amount_eur", F.col("amount_eur").cast("decimal(18,2)"))
        .withColumn("event_date", F.to_date("minute"))
    )


class GoldBatch:
    """The foreachBatch function of the gold query."""

    def __init__(self, settings: Settings, rules: dict[str, Rule] | None = None) -> None:
        self.settings = settings
        self.catalog = Catalog(settings.lake)
        self.rules = rules or load_rules()
        self.lookback_s = lookback_seconds(self.rules)

    def __call__(self, new_rows: DataFrame, batch_id: int) -> None:
        """Judge one micro-batch of new silver rows and publish its alerts."""
        from pyspark.sql import functions as F

        started = time.perf_counter()
        spark = new_rows.sparkSession
        new_rows = new_rows.persist()
        bounds_row = new_rows.agg(F.min("event_time"), F.max("event_time"), F.count("*")).first()
        if bounds_row is None or bounds_row[2] == 0:
            new_rows.unpersist()
            return
        silver = io.read_delta(spark, self.catalog.table("silver.transactions"))
        context = neighbourhood(silver, new_rows, self.lookback_s, (bounds_row[0], bounds_row[1]))
        alerts = evaluate_rules(context, self.rules, F.current_timestamp()).withColumn(
            "gold_batch_id", F.lit(batch_id).cast("long"))
        alerts_path = self.catalog.table(TABLE)
        io.merge_insert_new(alerts, alerts_path, ["alert_id"], "gold.alerts", batch_id,
                            PARTITION_BY)
        inserted = (io.read_delta(spark, alerts_path)
                    .where(F.col("gold_batch_id") == batch_id).persist())
        self._publish(inserted)
        self._activity(silver, new_rows, batch_id)
        latencies = [r[0] for r in inserted.join(
            context.select("transaction_id", "kafka_timestamp"), "transaction_id")
            .select(((F.unix_micros("detected_at") - F.unix_micros("kafka_timestamp")) / 1000.0)
                    .alias("ms")).collect()]
        latencies.sort()
        io.insert_metrics(self.settings, [{
            "layer": "gold", "batch_id": batch_id, "rows_in": int(bounds_row[2]),
            "rows_out": len(latencies), "duration_ms": (time.perf_counter() - started) * 1000,
            "alert_latency_p50_ms": latencies[len(latencies) // 2] if latencies else None,
            "alert_latency_p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            if latencies else None,
        }])
        inserted.unpersist()
        new_rows.unpersist()

    def _publish(self, inserted: DataFrame) -> None:
        """Inserted alerts to Kafka `alerts` and PostgreSQL payments.alerts."""
        from pyspark.sql import functions as F

        message = inserted.select(
            F.col("user_id").cast("binary").alias("key"),
            F.to_json(F.struct("alert_id", "rule_id", "severity", "transaction_id", "user_id",
                               "merchant_id", F.col("amount_eur").cast("string").alias(
                                   "amount_eur"), "event_time", "detected_at",
                               F.from_json("details", "map<string,string>").alias("details")))
            .cast("binary").alias("value"))
        io.write_kafka(message, self.settings, "alerts")
        rows = [
            (r["alert_id"], r["rule_id"], r["severity"], r["transaction_id"], r["user_id"],
             r["merchant_id"], r["amount_eur"], _utc(r["event_time"]), _utc(r["detected_at"]),
             r["details"])
            for r in inserted.collect()
        ]
        io.upsert_alerts(self.settings, rows)

    def _activity(self, silver: DataFrame, new_rows: DataFrame, batch_id: int) -> None:
        """Recompute the touched minutes of user and merchant activity from silver."""
        from pyspark.sql import functions as F

        for table, key in ((USER_ACTIVITY, "user_id"), (MERCHANT_ACTIVITY, "merchant_id")):
            touched = new_rows.select(
                key, F.date_trunc("minute", "event_time").alias("minute")).distinct()
            rows = silver.withColumn("minute", F.date_trunc("minute", "event_time")).join(
                F.broadcast(touched), [key, "minute"], "left_semi").drop("minute")
            io.merge_upsert(activity_1m(rows, key), self.catalog.table(table), [key, "minute"],
                            table, batch_id, ("event_date",))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def start(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
    """Start the silver -> gold query."""
    catalog = Catalog(settings.lake)
    source = spark.readStream.format("delta").option(
        "maxFilesPerTrigger", str(settings.pipeline.max_files_per_trigger)
    ).load(catalog.table("silver.transactions"))
    writer = (source.writeStream.queryName(QUERY_NAME).foreachBatch(GoldBatch(settings))
              .option("checkpointLocation", catalog.checkpoint(QUERY_NAME)))
    writer = writer.trigger(availableNow=True) if available_now else writer.trigger(
        processingTime="0 seconds")
    return writer.start()
