"""Kafka clients: the admin client and the consumers the library opens, each with the
profile's connection and security settings and a one-line error when the cluster is away.

The producer's own tuned client lives with it (producer.kafka_sink.make_producer); Spark's
readers and writers are here too, with `KafkaSettings.spark_options()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakehouse.errors import PaystreamError
from lakehouse.settings import KafkaSettings, Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def admin_client(kafka: KafkaSettings) -> Any:
    """A kafka-python admin client, or a one-line error when the cluster is unreachable."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        return KafkaAdminClient(client_id="paystream-topics", bootstrap_timeout_ms=15000,
                                **kafka.admin_config(request_timeout_ms=15000))
    except (KafkaError, OSError) as error:
        raise PaystreamError(
            f"cannot reach Kafka at {kafka.bootstrap_servers} as {kafka.security_protocol} "
            f"({type(error).__name__}): start it with `paystream up` or check "
            "PAYSTREAM_KAFKA__BOOTSTRAP and the security settings"
        ) from error


def consumer(kafka: KafkaSettings, request_timeout_ms: int | None = None,
             **options: Any) -> Any:
    """A kafka-python consumer with the settings' connection and security (no group unless
    `options` name one); `options` are KafkaConsumer's own keywords."""
    from kafka import KafkaConsumer

    return KafkaConsumer(**kafka.consumer_config(request_timeout_ms=request_timeout_ms),
                         **options)


MICRO_BATCH_FETCH_WAIT_MS = 10
"""How long the broker may hold a micro-batch task's fetch when no record is there yet.

A cached Kafka consumer leaves a fetch for the next offset in flight at the end of a
batch; with the client default (500 ms) the next batch's tasks waited on it. Measured on
a stateful query at 20 events/s: tasks of 15 ms CPU took 200-520 ms, and a batch ~1 s.
"""


def read_kafka_stream(spark: SparkSession, settings: Settings, topic: str,
                      max_offsets_per_trigger: int | None = None,
                      realtime: bool = False) -> DataFrame:
    """A streaming DataFrame over a Kafka topic, headers included, from the earliest offset.

    A micro-batch reader asks the broker not to hold fetches (MICRO_BATCH_FETCH_WAIT_MS);
    a real-time-mode reader polls continuously and keeps the client's default wait.
    """
    reader = (
        spark.readStream.format("kafka")
        .options(**settings.kafka.spark_options())
        .option("subscribe", topic)
        .option("startingOffsets", settings.pipeline.starting_offsets)
        .option("includeHeaders", "true")
        .option("failOnDataLoss", "false")
    )
    if not realtime:
        reader = reader.option("kafka.fetch.max.wait.ms", str(MICRO_BATCH_FETCH_WAIT_MS))
    if max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets_per_trigger))
    return reader.load()


def write_kafka(df: DataFrame, settings: Settings, topic: str) -> None:
    """Write rows with key, value and optional headers columns to a Kafka topic."""
    (df.write.format("kafka")
     .options(**settings.kafka.spark_options())
     .option("kafka.acks", "all")
     .option("kafka.linger.ms", "5")
     .option("topic", topic).save())
