"""Instant alerts: the rules that judge one payment alone, in Spark real-time mode.

Kafka `transactions` -> the contract check and typing as SQL expressions (no
Python UDF: real-time mode refuses them) -> the instant rules (lakehouse.rules
INSTANT_RULES, the same functions the batch backfill runs) -> Kafka `alerts`.
No state, no Delta, no shuffle: a record is judged as it arrives. Real-time mode
holds one task slot per `transactions` partition for the whole of its long
batch (`pipeline.realtime_batch`, the checkpoint interval), so the stream's
local master gets that many threads on top of the others' (lakehouse.spark).
With --available-now the same query runs as micro-batches and stops.

A payment's alert time is the wall clock of the row (System.currentTimeMillis
through `reflect`), because current_timestamp() is fixed for a whole batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from lakehouse import rules_watch
from lakehouse.errors import PaystreamError
from lakehouse.fx import eur_per_unit, fx_table
from lakehouse.rules import RULE_FUNCTIONS, Rule, instant_rules, load_rules
from lakehouse.settings import Settings
from lakehouse.stores import kafka

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

QUERY_NAME = "instant"


def row_clock() -> Column:
    """The wall-clock time when a row is evaluated (per row, unlike current_timestamp())."""
    from pyspark.sql import functions as F

    return F.timestamp_millis(F.expr("reflect('java.lang.System', 'currentTimeMillis')")
                              .cast("long"))


def valid_payments(kafka_rows: DataFrame, rates: Mapping[str, Decimal]) -> DataFrame:
    """Kafka `transactions` records that pass the contract (currencies of the FX table
    `rates`), as typed payment columns."""
    from pyspark.sql import functions as F

    from spark_jobs.silver_transactions import check_contract, typed_event_columns

    checked = check_contract(kafka_rows.withColumnRenamed("timestamp", "kafka_timestamp"), rates)
    return (checked.where(F.size("reasons") == 0)
            .select(*typed_event_columns(), F.col("kafka_timestamp").alias("payment_kafka_time"))
            .withColumn("event_date", F.to_date("event_time")))


def transform(kafka_rows: DataFrame, rules: dict[str, Rule],
              rates: Mapping[str, Decimal] | None = None,
              rules_version: str | None = None) -> DataFrame:
    """Kafka `transactions` records -> alert records for `alerts` (key, value); pure. `rates`:
    the FX table (default the packaged one); `rules_version`: what each alert records as the
    version of the rules that raised it."""
    from functools import reduce

    from pyspark.sql import functions as F

    from spark_jobs.alert_sink import to_kafka_messages

    payments = valid_payments(kafka_rows, eur_per_unit() if rates is None else rates)
    frames = [RULE_FUNCTIONS[rule_id](payments, rule, row_clock())
              for rule_id, rule in instant_rules(rules).items()]
    if not frames:
        raise PaystreamError("no instant rule is enabled in the rules file")
    alerts = reduce(lambda a, b: a.unionByName(b), frames)
    return to_kafka_messages(alerts.withColumn("rules_version", F.lit(rules_version).cast(
        "string")))


def start(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
    """Start Kafka `transactions` -> instant rules -> Kafka `alerts`."""
    from spark_jobs.alert_sink import alerts_topic_writer

    realtime = settings.pipeline.instant_realtime and not available_now
    source = kafka.read_kafka_stream(spark, settings, "transactions", realtime=realtime)
    rows = transform(source, load_rules(settings.rules_file), fx_table(settings.fx_rates_file),
                     rules_watch.rules_version(settings.rules_file))
    writer = alerts_topic_writer(rows, settings, QUERY_NAME)
    if available_now:
        return writer.trigger(availableNow=True).start()
    if not realtime:  # PAYSTREAM_PIPELINE__INSTANT_REALTIME=false: 0-second micro-batches
        return writer.trigger(processingTime="0 seconds").start()
    query: StreamingQuery = writer.trigger(  # type: ignore[call-overload]
        realTime=settings.pipeline.realtime_batch).start()
    return query
