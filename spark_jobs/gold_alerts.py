"""Gold on the lake path: per-minute activity, and any rule no streaming alert query runs.

The shipped rules all run on the streaming alert queries (instant, stateful,
merchants), so per micro-batch of new silver rows this appends their per-minute
counts to the activity tables (one append each, carrying (txnAppId, txnVersion),
so a replayed batch adds nothing twice). The tables are additive: a key's minute
may have one row per batch that saw it, so readers sum by key and minute; the
daily backfill rewrites each closed day as one row per key and minute. An append
costs what the batch's rows cost (a MERGE read and rewrote the day's file). A rule left to the lake
(lakehouse.rules.lake_rules) runs over the neighbourhood the new rows touch:
the silver rows of the same users or merchants within the rule's lookback; its
alerts that the same dates of gold.alerts do not hold go to Kafka `alerts`,
PostgreSQL (upsert on alert_id) and gold.alerts (txnAppId, txnVersion).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from lakehouse.catalog import Catalog
from lakehouse.rules import Rule, evaluate_rules, lake_rules, load_rules, lookback_seconds
from lakehouse.settings import Settings
from lakehouse.tables import (
    GOLD_ALERTS,
    GOLD_MERCHANT_ACTIVITY_1M,
    GOLD_USER_ACTIVITY_1M,
    SILVER_TRANSACTIONS,
)
from spark_jobs import io

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

ACTIVITY_TABLES = ((GOLD_USER_ACTIVITY_1M, "user_id"), (GOLD_MERCHANT_ACTIVITY_1M, "merchant_id"))
"""The per-minute activity tables and the key each counts by."""
QUERY_NAME = "gold"


def neighbourhood(silver: DataFrame, new_rows: DataFrame, lookback_s: int,
                  bounds: tuple[datetime, datetime]) -> DataFrame:
    """Silver rows of the users or merchants in new_rows, within the lookback around them."""
    from pyspark.sql import functions as F

    low, high = bounds[0] - timedelta(seconds=lookback_s), bounds[1] + timedelta(seconds=lookback_s)
    in_time = silver.where(F.col("event_date").between(F.lit(low.date()), F.lit(high.date()))
                           & F.col("event_time").between(F.lit(low), F.lit(high)))
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
        # decimal(28,2): a minute's sum of contract-valid amounts (each < 10^16) always fits.
        .withColumn("amount_eur", F.col("amount_eur").cast("decimal(28,2)"))
        .withColumn("event_date", F.to_date("minute"))
    )


@dataclass
class GoldJudgement:
    """One judged gold batch: its new silver rows, their neighbourhood and the new alerts."""

    batch_id: int
    started: float
    rows_in: int
    new_rows: DataFrame
    context: DataFrame
    new_alerts: DataFrame
    new_alert_count: int

    def release(self) -> None:
        """Drop the cached frames."""
        self.new_alerts.unpersist()


class GoldBatch:
    """The foreachBatch function of the gold query."""

    def __init__(self, settings: Settings, rules: dict[str, Rule] | None = None) -> None:
        self.settings = settings
        self.catalog = Catalog(settings.lake_location)
        self.rules = lake_rules(rules or load_rules(settings.rules_file))
        self.lookback_s = lookback_seconds(self.rules)

    def __call__(self, new_rows: DataFrame, batch_id: int) -> None:
        """Judge one micro-batch of new silver rows and publish its alerts."""
        new_rows = new_rows.persist()
        silver = io.read_delta(new_rows.sparkSession, self.catalog.table(SILVER_TRANSACTIONS))
        judgement = self.judge(new_rows, silver, batch_id)
        if judgement is not None:
            self.publish(judgement)
            self.commit(judgement)
            judgement.release()
        new_rows.unpersist()

    def judge(self, new_rows: DataFrame, silver: DataFrame, batch_id: int) -> GoldJudgement | None:
        """Run the rules over the neighbourhood of new_rows in silver; None when there are none."""
        from pyspark.sql import functions as F

        started = time.perf_counter()
        bounds_row = new_rows.agg(F.min("event_time"), F.max("event_time"), F.count("*")).first()
        if bounds_row is None or bounds_row[2] == 0:
            return None
        if not any(rule.enabled for rule in self.rules.values()):
            # Every enabled rule runs on the streaming alert queries: nothing to read here.
            none = evaluate_rules(new_rows.limit(0), {}, F.current_timestamp()).withColumn(
                "gold_batch_id", F.lit(batch_id).cast("long"))
            return GoldJudgement(batch_id, started, int(bounds_row[2]), new_rows, new_rows,
                                 none, 0)
        # Checkpointed once: the five rules read it, and it must not be recomputed (or recached)
        # when silver is written later in the batch.
        context = neighbourhood(silver, new_rows, self.lookback_s,
                                (bounds_row[0], bounds_row[1])).localCheckpoint()
        alerts = evaluate_rules(context, self.rules, F.current_timestamp()).withColumn(
            "gold_batch_id", F.lit(batch_id).cast("long"))
        alerts_path = self.catalog.table(GOLD_ALERTS)
        io.ensure_delta_table(alerts, alerts_path, GOLD_ALERTS.partition_by)
        # Only the dates the judged neighbourhood spans: an alert's event_date is its payment's.
        low = bounds_row[0] - timedelta(seconds=self.lookback_s)
        high = bounds_row[1] + timedelta(seconds=self.lookback_s)
        raised_before = io.read_delta(new_rows.sparkSession, alerts_path).where(
            F.col("event_date").between(F.lit(low.date()), F.lit(high.date()))
            & (F.col("gold_batch_id") != batch_id)).select("alert_id")
        # localCheckpoint, not persist: writing gold.alerts would recompute a cached plan
        # that reads it (and give the alerts a second detected_at).
        new_alerts = alerts.join(raised_before, "alert_id", "left_anti").localCheckpoint()
        return GoldJudgement(batch_id, started, int(bounds_row[2]), new_rows, context, new_alerts,
                             new_alerts.count())

    def publish(self, judgement: GoldJudgement) -> None:
        """The batch's new alerts to Kafka `alerts` and PostgreSQL payments.alerts."""

        alerts = judgement.new_alerts
        if not judgement.new_alert_count:
            return
        from spark_jobs.alert_sink import to_kafka_messages

        message = to_kafka_messages(alerts)
        io.write_kafka(message, self.settings, "alerts")
        rows = [
            (r["alert_id"], r["rule_id"], r["severity"], r["transaction_id"], r["user_id"],
             r["merchant_id"], r["amount_eur"], io.utc(r["event_time"]), io.utc(r["detected_at"]),
             r["details"])
            for r in alerts.collect()
        ]
        io.upsert_alerts(self.settings, rows)

    def commit(self, judgement: GoldJudgement) -> None:
        """Append the new alerts to gold.alerts, refresh activity and record the batch's metrics."""
        from pyspark.sql import functions as F

        batch_id = judgement.batch_id
        if judgement.new_alert_count:
            io.append_idempotent(judgement.new_alerts, self.catalog.table(GOLD_ALERTS),
                                 GOLD_ALERTS.name, batch_id, GOLD_ALERTS.partition_by)
        self._activity(judgement.new_rows, batch_id)
        latencies = []
        if judgement.new_alert_count:
            latencies = [r[0] for r in judgement.new_alerts.join(
                judgement.context.select("transaction_id", "kafka_timestamp"), "transaction_id")
                .select(((F.unix_micros("detected_at") - F.unix_micros("kafka_timestamp"))
                         / 1000.0).alias("ms")).collect()]
        latencies.sort()
        io.insert_metrics(self.settings, [{
            "layer": "gold", "batch_id": batch_id, "rows_in": judgement.rows_in,
            "rows_out": len(latencies),
            "duration_ms": (time.perf_counter() - judgement.started) * 1000,
            "alert_latency_p50_ms": latencies[len(latencies) // 2] if latencies else None,
            "alert_latency_p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            if latencies else None,
        }])

    def _activity(self, new_rows: DataFrame, batch_id: int) -> None:
        """Append the batch's per-minute user and merchant counts (additive rows)."""
        for table, key in ACTIVITY_TABLES:
            io.append_idempotent(activity_1m(new_rows, key), self.catalog.table(table),
                                 table.name, batch_id, table.partition_by)


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
