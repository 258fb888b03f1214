"""Instant alerts and the checked payments: one contract check per record, in real-time mode.

Kafka `transactions` -> the contract check and typing as SQL expressions (no
Python UDF: real-time mode refuses them) -> each valid payment, typed, to Kafka
`transactions_valid` (spark_jobs.valid_payments: what the stateful query reads, so
no payload is checked twice on the alert path) and the instant rules (lakehouse.rules
INSTANT_HITS, the conditions the batch backfill's rules use) -> Kafka `alerts`.
No state, no Delta, no shuffle: a record is judged as it arrives. The query runs
whenever the stateful query does, even with every instant rule disabled. Real-time mode
holds one task slot per `transactions` partition for the whole of its long
batch (`pipeline.realtime_batch`, the checkpoint interval), so the stream's
local master gets that many threads on top of the others' (lakehouse.spark).
With --available-now the same query runs as micro-batches and stops.

A payment's alert time is the wall clock of the row (System.currentTimeMillis
through `reflect`), because current_timestamp() is fixed for a whole batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.rules import INSTANT_HITS, Rule, alert_columns, instant_rules, load_rules
from lakehouse.settings import Settings
from spark_jobs import io, valid_payments

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

QUERY_NAME = "instant"


def row_clock() -> Column:
    """The wall-clock time when a row is evaluated (per row, unlike current_timestamp())."""
    from pyspark.sql import functions as F

    return F.timestamp_millis(F.expr("reflect('java.lang.System', 'currentTimeMillis')")
                              .cast("long"))


def transform(kafka_rows: DataFrame, rules: dict[str, Rule], valid_partitions: int) -> DataFrame:
    """Kafka `transactions` records -> Kafka records (valid_payments.RECORD_SCHEMA): each valid
    payment typed for `transactions_valid`, and the instant rules' alerts for `alerts`, from one
    contract check per record; pure."""
    from pyspark.sql import functions as F

    from spark_jobs.alert_sink import alert_value

    payments = valid_payments.checked_payments(kafka_rows).withColumn(
        "payment_kafka_time", F.col("kafka_timestamp"))
    outputs = [valid_payments.record(valid_partitions)]
    for rule_id, rule in instant_rules(rules).items():
        fires, details = INSTANT_HITS[rule_id](rule)
        alert = F.struct(*alert_columns(rule, details, row_clock(), ["payment_kafka_time"]))
        outputs.append(F.when(fires, F.struct(
            F.lit("alerts").alias("topic"), F.lit(None).cast("int").alias("partition"),
            F.col("user_id").cast("binary").alias("key"),
            alert_value(alert, ["payment_kafka_time"]).alias("value"))))
    # inline turns each payment into its records in the same pass (real-time mode allows a
    # Generate, not a union of two reads); a rule that did not fire leaves a null record.
    return payments.select(F.inline(F.array(*outputs))).where(F.col("topic").isNotNull())


def start(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
    """Start Kafka `transactions` -> contract check -> Kafka `transactions_valid`, and the
    instant rules -> Kafka `alerts`."""
    from lakehouse.topics import topic_specs
    from spark_jobs.alert_sink import alerts_topic_writer

    realtime = settings.pipeline.instant_realtime and not available_now
    source = io.read_kafka_stream(spark, settings, "transactions", realtime=realtime)
    partitions = {spec.name: spec for spec in topic_specs(settings)}[valid_payments.TOPIC]
    records = transform(source, load_rules(settings.rules_file), partitions.partitions)
    writer = alerts_topic_writer(records, settings, QUERY_NAME, topic=None)
    if available_now:
        return writer.trigger(availableNow=True).start()
    if not realtime:  # PAYSTREAM_PIPELINE__INSTANT_REALTIME=false: 0-second micro-batches
        return writer.trigger(processingTime="0 seconds").start()
    return writer.trigger(  # type: ignore[call-overload]
        realTime=settings.pipeline.realtime_batch).start()
