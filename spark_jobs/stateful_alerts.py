"""Stateful alerts: the rules that need history, on keyed state in RocksDB, off the lake's path.

One micro-batch query (0-second trigger): Kafka `transactions` -> the same
contract check and typing as silver (Spark SQL) -> transformWithState with a
processor written in Java (spark_jobs/jvm, compiled by lakehouse.jvm_build) ->
velocity, card_testing, impossible_travel per user and compromised_merchant per
merchant -> Kafka `alerts`; the alert sinks carry them on.

Why Java: a Python processor pays a socket round trip per state call and a
Python worker per batch; measured here, that fixed cost (about 3 s a batch plus
1 ms a row) kept the stateful alerts tens of seconds behind at 1,000 events/s
and starved the other queries of the two cores. The Java processor runs inside
the JVM task. Why one key: it sees every Kafka partition, so lateness is judged
exactly as silver judges it (per partition), and one state call per user and
merchant a batch is cheap in the JVM. What the state keeps, and how a late
payment re-judges later ones, is told in KeyedRules.java; tests hold the alerts
equal to the batch rules (lakehouse.rules).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lakehouse.rules import (
    MERCHANT_RULES,
    USER_RULES,
    Rule,
    elevated_ticket_eur,
    load_rules,
    lookback_seconds,
)
from lakehouse.settings import Settings
from spark_jobs import io

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

QUERY_NAME = "stateful"
CHECKPOINT = "stateful_keyed"
"""Not `stateful`: that folder holds the Python processor's state (another state schema),
which this query cannot resume; a lake that has one starts this query afresh beside it."""
KEYED_RULES = USER_RULES + MERCHANT_RULES
ALERT_SCHEMA = (
    "alert_id string, rule_id string, severity string, transaction_id string, user_id string, "
    "merchant_id string, amount_eur decimal(18,2), event_time timestamp, "
    "detected_at timestamp, details string, payment_kafka_time timestamp"
)
"""What the Java processor emits; event_date is added from event_time (UTC) here."""
INPUT_COLUMNS = ("source_partition", "source_offset", "transaction_id", "user_id", "card_id",
                 "amount_eur", "merchant_id", "channel", "lat", "lon", "city", "event_ms",
                 "kafka_ms", "payload_sha256", "elevated")
"""What the processor reads of each valid payment (KeyedAlertProcessor.Fields)."""


def processor_config(rules: dict[str, Rule], lateness_s: int) -> str:
    """The JSON the Java processor reads: the keyed rules' parameters, how far back each
    family looks (lakehouse.rules.lookback_seconds) and the lateness."""
    def horizon_ms(family: tuple[str, ...]) -> int:
        return lookback_seconds({k: r for k, r in rules.items() if k in family}) * 1000

    return json.dumps({
        "lateness_ms": lateness_s * 1000,
        "user_horizon_ms": horizon_ms(USER_RULES),
        "merchant_horizon_ms": horizon_ms(MERCHANT_RULES),
        "rules": {rule_id: {"severity": rule.severity, "enabled": rule.enabled,
                            "params": {k: str(v) for k, v in rule.params.items()}}
                  for rule_id, rule in rules.items() if rule_id in KEYED_RULES},
    })


def valid_payments(kafka_rows: DataFrame, rules: dict[str, Rule]) -> DataFrame:
    """Kafka `transactions` records as the processor's input rows, valid ones only (Spark SQL)."""
    from pyspark.sql import functions as F

    from spark_jobs import bronze_transactions_raw
    from spark_jobs.silver_transactions import check_contract, to_silver_rows

    checked = check_contract(bronze_transactions_raw.transform(kafka_rows))
    tickets = F.create_map(*[
        item for mcc, eur in sorted(elevated_ticket_eur(rules["compromised_merchant"]).items())
        for item in (F.lit(mcc), F.lit(eur))])
    elevated = F.coalesce(
        F.col("amount_eur") >= F.try_element_at(tickets, F.col("merchant_category")),
        F.lit(False))
    return (to_silver_rows(checked.where(F.size("reasons") == 0), 0)
            .withColumn("event_ms", F.unix_millis("event_time"))
            .withColumn("kafka_ms", F.unix_millis("kafka_timestamp"))
            .withColumn("elevated", elevated)
            .select(*INPUT_COLUMNS))


def transform(kafka_rows: DataFrame, rules: dict[str, Rule], lateness_s: int) -> DataFrame:
    """Kafka `transactions` records -> alert rows of the keyed rules (the alert columns)."""
    from pyspark.sql import functions as F
    from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame

    payments = valid_payments(kafka_rows, rules)
    spark = payments.sparkSession
    jvm: Any = spark._jvm  # type: ignore[attr-defined]
    alerts = jvm.paystream.StatefulAlerts.alerts(
        payments._jdf, processor_config(rules, lateness_s), ALERT_SCHEMA)  # type: ignore[attr-defined]
    return ClassicDataFrame(alerts, spark).withColumn(  # type: ignore[arg-type]
        "event_date", F.to_date("event_time"))


def start(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
    """Start Kafka `transactions` -> keyed rules -> Kafka `alerts`."""
    from spark_jobs.alert_sink import alerts_topic_writer, to_kafka_messages

    source = io.read_kafka_stream(spark, settings, "transactions",
                                  settings.pipeline.max_offsets_per_trigger)
    alerts = transform(source, load_rules(settings.rules_file),
                       settings.pipeline.allowed_lateness_s)
    writer = alerts_topic_writer(to_kafka_messages(alerts), settings, QUERY_NAME, CHECKPOINT)
    trigger = {"availableNow": True} if available_now else {"processingTime": "0 seconds"}
    # One key, so one state partition: the others would only commit empty RocksDB stores
    # every batch. A query keeps the width of its first run (it is in the checkpoint).
    previous = spark.conf.get("spark.sql.shuffle.partitions") or "200"
    spark.conf.set("spark.sql.shuffle.partitions", "1")
    try:
        return writer.trigger(**trigger).start()  # type: ignore[arg-type]
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)
