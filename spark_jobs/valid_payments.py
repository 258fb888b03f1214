"""Kafka `transactions_valid`: each payment checked and typed once, for the stateful query.

The instant query (spark_jobs.instant_alerts) runs the contract check on every record of
Kafka `transactions` and writes each valid payment here, typed, as compact JSON, with its
source coordinates and its Kafka time, into the partition of its source record (modulo this
topic's partitions). One source partition's payments so keep their order, and the stateful
query (spark_jobs.stateful_alerts) judges lateness per source partition exactly as silver
does, without parsing or checking a payload again. At least once: an instant batch replayed
after a crash writes its payments again; the stateful query's resend judgement (same
transaction_id, same payload) drops them, as it drops a producer's resends.

Bronze keeps every record as received and silver judges its own batches (quarantine reasons,
deduplication against the table): the lake reads `transactions`, not this topic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

TOPIC = "transactions_valid"
VALUE_SCHEMA = (
    "source_partition int, source_offset long, transaction_id string, user_id string, "
    "card_id string, amount_eur decimal(18,2), merchant_id string, merchant_category string, "
    "channel string, lat double, lon double, city string, event_ms long, kafka_ms long, "
    "payload_sha256 string"
)
"""A record's value: what the stateful stages read of a payment (times in epoch ms)."""
RECORD_SCHEMA = "topic string, partition int, key binary, value binary"
"""A Kafka record the instant query writes (the Kafka sink's columns; partition may be null)."""


def checked_payments(kafka_rows: DataFrame) -> DataFrame:
    """Kafka `transactions` records that pass the contract, as typed payments (silver's
    columns and payload hash) with their source coordinates and Kafka time; pure."""
    from pyspark.sql import functions as F

    from spark_jobs.silver_transactions import check_contract, payload_sha256, typed_event_columns

    checked = check_contract(kafka_rows.withColumnRenamed("timestamp", "kafka_timestamp"))
    return (checked.where(F.size("reasons") == 0)
            .select(*typed_event_columns(), F.col("partition").alias("source_partition"),
                    F.col("offset").alias("source_offset"), "kafka_timestamp")
            .withColumn("event_date", F.to_date("event_time"))
            .withColumn("payload_sha256", payload_sha256()))


def record(partitions: int) -> Column:
    """A checked payment's record for this topic (RECORD_SCHEMA): key user_id, the partition
    of its source record modulo `partitions`, the VALUE_SCHEMA fields as JSON."""
    from pyspark.sql import functions as F

    fields = [c.split()[0] for c in VALUE_SCHEMA.split(", ")]
    times = {"event_ms": F.unix_millis("event_time"), "kafka_ms": F.unix_millis("kafka_timestamp")}
    value = F.to_json(F.struct(*[times[f].alias(f) if f in times else F.col(f) for f in fields]))
    return F.struct(F.lit(TOPIC).alias("topic"),
                    F.pmod(F.col("source_partition"), F.lit(partitions)).alias("partition"),
                    F.col("user_id").cast("binary").alias("key"),
                    value.cast("binary").alias("value"))


def records(kafka_rows: DataFrame, partitions: int) -> DataFrame:
    """Kafka `transactions` records -> this topic's records for the valid ones; pure (what the
    instant query writes beside its alerts, and what tests feed the stateful stages)."""
    return checked_payments(kafka_rows).select(record(partitions).alias("r")).select("r.*")


def payments(kafka_rows: DataFrame) -> DataFrame:
    """Records read from this topic (a `value` column) -> typed payments (VALUE_SCHEMA)."""
    from pyspark.sql import functions as F

    return (kafka_rows.select(F.from_json(F.col("value").cast("string"), VALUE_SCHEMA).alias("p"))
            .select("p.*"))
