"""Alerts between Kafka and the sinks: the one message format, and the two sink queries.

Every alert travels as one JSON record on Kafka `alerts` (key = user_id). Two
small micro-batch queries, each with its own checkpoint, carry the records on:
`alerts_postgres` upserts them into payments.alerts (ON CONFLICT on alert_id)
and `alerts_gold` appends them to gold.alerts through its writer
(spark_jobs.gold_alerts: once per alert and per batch). Two
queries rather than one, so a PostgreSQL row never waits for a Delta commit.
The alerts topic is at-least-once; alert_id makes every sink idempotent.

Which rules the sinks carry is their `rule_ids` filter: today the instant
rules, whose query has no other way to the sinks (the medallion query writes
its own alerts to PostgreSQL and gold.alerts).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lakehouse.catalog import Catalog
from lakehouse.settings import Settings
from lakehouse.spark import utc
from lakehouse.stores import kafka, postgres
from spark_jobs import gold_alerts

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

POSTGRES_QUERY = "alerts_postgres"
GOLD_QUERY = "alerts_gold"
MESSAGE_SCHEMA = (
    "alert_id string, rule_id string, severity string, transaction_id string, user_id string, "
    "merchant_id string, amount_eur string, event_time timestamp, detected_at timestamp, "
    "details map<string,string>, payment_kafka_time timestamp, rules_version string"
)


def to_kafka_messages(alerts: DataFrame) -> DataFrame:
    """Alert rows (lakehouse.rules.ALERT_COLUMNS, and rules_version and payment_kafka_time
    when present) as Kafka records: key user_id, JSON value."""
    from pyspark.sql import functions as F

    carried = [c for c in ("payment_kafka_time", "rules_version") if c in alerts.columns]
    return alerts.select(
        F.col("user_id").cast("binary").alias("key"),
        F.to_json(F.struct(
            "alert_id", "rule_id", "severity", "transaction_id", "user_id", "merchant_id",
            F.col("amount_eur").cast("string").alias("amount_eur"), "event_time", "detected_at",
            F.from_json("details", "map<string,string>").alias("details"), *carried,
        )).cast("binary").alias("value"))


def alerts_topic_writer(messages: DataFrame, settings: Settings, name: str,
                        checkpoint: str | None = None,
                        topic: str | None = "alerts") -> DataStreamWriter:
    """A streaming writer of alert records (to_kafka_messages) to Kafka `alerts`, low latency
    (topic None: each record names its own in a `topic` column).

    The checkpoint is named after the query unless `checkpoint` names another folder.
    """
    writer = (messages.writeStream.queryName(name)
              .format("kafka").outputMode("update")
              .options(**settings.kafka.spark_options())
              .option("kafka.linger.ms", "0")
              .option("kafka.acks", "all")
              .option("checkpointLocation",
                      Catalog(settings.lake_location).checkpoint(checkpoint or name)))
    return writer.option("topic", topic) if topic else writer


def from_kafka_messages(kafka_rows: DataFrame) -> DataFrame:
    """Kafka `alerts` records as alert rows (ALERT_COLUMNS) plus their rules version and the
    record's Kafka time."""
    from pyspark.sql import functions as F

    message = F.from_json(F.col("value").cast("string"), MESSAGE_SCHEMA)
    return kafka_rows.select(message.alias("m"), F.col("timestamp").alias("kafka_timestamp")) \
        .select(
            "m.alert_id", "m.rule_id", "m.severity", "m.transaction_id", "m.user_id",
            "m.merchant_id", F.col("m.amount_eur").try_cast("decimal(18,2)").alias("amount_eur"),
            "m.event_time", F.to_date("m.event_time").alias("event_date"), "m.detected_at",
            F.to_json("m.details").alias("details"), "m.rules_version", "m.payment_kafka_time",
            "kafka_timestamp",
        ).where(F.col("alert_id").isNotNull())


class PostgresSink:
    """foreachBatch of `alerts_postgres`: upsert the batch's alerts into payments.alerts."""

    def __init__(self, settings: Settings, rule_ids: Sequence[str]) -> None:
        self.settings = settings
        self.rule_ids = list(rule_ids)

    def __call__(self, kafka_rows: DataFrame, batch_id: int) -> None:
        """Upsert one batch; PostgreSQL ignores an alert_id it holds already."""
        from pyspark.sql import functions as F

        alerts = from_kafka_messages(kafka_rows).where(F.col("rule_id").isin(self.rule_ids))
        started = time.perf_counter()
        collected = alerts.collect()
        # Deduplicated here rather than by dropDuplicates: no shuffle stage on the latency path.
        rows = {
            r["alert_id"]: (r["alert_id"], r["rule_id"], r["severity"], r["transaction_id"],
                            r["user_id"], r["merchant_id"], r["amount_eur"],
                            utc(r["event_time"]), utc(r["detected_at"]), r["details"],
                            r["rules_version"])
            for r in collected
        }
        postgres.upsert_alerts(self.settings, list(rows.values()))
        if collected:
            self._record_metrics(batch_id, collected, started)

    def _record_metrics(self, batch_id: int, alerts: list[Any], started: float) -> None:
        """The batch's alert latency: from each payment's Kafka time to its PostgreSQL row."""
        from datetime import UTC, datetime

        committed = datetime.now(UTC)
        latencies = sorted((committed - utc(r["payment_kafka_time"])).total_seconds() * 1000
                           for r in alerts if r["payment_kafka_time"] is not None)
        postgres.insert_metrics(self.settings, [{
            "layer": "alerts", "batch_id": batch_id, "rows_in": len(alerts),
            "rows_out": len(alerts), "duration_ms": (time.perf_counter() - started) * 1000,
            "alert_latency_p50_ms": latencies[len(latencies) // 2] if latencies else None,
            "alert_latency_p99_ms": latencies[min(len(latencies) - 1,
                                                  int(len(latencies) * 0.99))]
            if latencies else None,
        }])


class GoldSink:
    """foreachBatch of `alerts_gold`: append the batch's alerts gold.alerts does not hold yet."""

    def __init__(self, settings: Settings, rule_ids: Sequence[str]) -> None:
        self.settings = settings
        self.rule_ids = list(rule_ids)
        self.catalog = Catalog(settings.lake_location)

    def __call__(self, kafka_rows: DataFrame, batch_id: int) -> None:
        """Append one batch once; only the gold.alerts partitions of its event dates are read."""
        from pyspark.sql import functions as F

        alerts = (from_kafka_messages(kafka_rows).where(F.col("rule_id").isin(self.rule_ids))
                  .dropDuplicates(["alert_id"]).drop("kafka_timestamp", "payment_kafka_time"))
        gold_alerts.append_new(alerts, self.catalog, batch_id, self.rule_ids)


def _start(spark: SparkSession, settings: Settings, name: str, sink: object,
           available_now: bool, interval_s: int = 0) -> StreamingQuery:
    source = kafka.read_kafka_stream(spark, settings, "alerts",
                                     settings.pipeline.max_offsets_per_trigger)
    writer = (source.writeStream.queryName(name).foreachBatch(sink)  # type: ignore[arg-type]
              .option("checkpointLocation", Catalog(settings.lake_location).checkpoint(name)))
    writer = writer.trigger(availableNow=True) if available_now else writer.trigger(
        processingTime=f"{interval_s} seconds")
    return writer.start()


def start_postgres(spark: SparkSession, settings: Settings, available_now: bool,
                   rule_ids: Sequence[str]) -> StreamingQuery:
    """Start Kafka `alerts` -> PostgreSQL payments.alerts."""
    return _start(spark, settings, POSTGRES_QUERY, PostgresSink(settings, rule_ids),
                  available_now)


def start_gold(spark: SparkSession, settings: Settings, available_now: bool,
               rule_ids: Sequence[str]) -> StreamingQuery:
    """Start Kafka `alerts` -> gold.alerts, on the lake's trigger interval.

    gold.alerts serves analysts, not the alert path: a Delta commit per alert batch cost a
    code compilation and a commit every few hundred milliseconds (a quarter of the CPU
    samples of the stream at 1,000 events/s) and left a small file each time.
    """
    return _start(spark, settings, GOLD_QUERY, GoldSink(settings, rule_ids), available_now,
                  settings.pipeline.lake_trigger_s)
