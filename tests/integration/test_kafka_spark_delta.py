"""Kafka round trip, then Kafka -> Spark (streaming, availableNow) -> Delta -> DuckDB."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from lakehouse.settings import Settings

pytestmark = pytest.mark.integration


def _create_topic(settings: Settings, name: str, partitions: int) -> None:
    admin = KafkaAdminClient(**settings.kafka.python_client_config())
    try:
        admin.create_topics([NewTopic(name, partitions, 1)], wait_for_metadata=True)
    finally:
        admin.close()


def _send(settings: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(**settings.kafka.python_client_config(), acks="all",
                             enable_idempotence=True)
    try:
        for key, value in records:
            producer.send(topic, key=key, value=value, headers=[("scenario", b"legit")])
        producer.flush(timeout=30)
    finally:
        producer.close()


def test_kafka_round_trip(live_services: Settings, unique_topic: str) -> None:
    _create_topic(live_services, unique_topic, partitions=3)
    sent = [(f"user-{i % 7}".encode(), json.dumps({"n": i}).encode()) for i in range(200)]
    _send(live_services, unique_topic, sent)

    consumer = KafkaConsumer(unique_topic, **live_services.kafka.python_client_config(),
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=10_000, group_id=None)
    try:
        received = []
        for message in consumer:
            received.append(message)
            if len(received) == len(sent):
                break
    finally:
        consumer.close()

    assert sorted((m.key, m.value) for m in received) == sorted(sent)
    assert all(m.headers == [("scenario", b"legit")] for m in received)
    # Same key, same partition, and order kept within a key.
    by_key: dict[bytes, set[int]] = {}
    for message in received:
        by_key.setdefault(message.key, set()).add(message.partition)
    assert all(len(partitions) == 1 for partitions in by_key.values())
    for key in by_key:
        values = [json.loads(m.value)["n"] for m in received if m.key == key]
        assert values == sorted(values)


def test_spark_streams_kafka_into_delta_and_duckdb_reads_it(
    live_services: Settings, spark, unique_topic: str, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    _create_topic(live_services, unique_topic, partitions=3)
    count = 1_000
    amounts = [Decimal(i % 500) + Decimal("0.25") for i in range(count)]
    records = [
        (f"user-{i % 13}".encode(),
         json.dumps({"id": f"tx-{i}", "amount": str(amounts[i])}).encode())
        for i in range(count)
    ]
    _send(live_services, unique_topic, records)

    table = tmp_path / "lake" / "kafka_landing"
    schema = StructType([StructField("id", StringType()), StructField("amount", StringType())])
    stream = (
        spark.readStream.format("kafka")
        .options(**live_services.kafka.spark_options())
        .option("subscribe", unique_topic)
        .option("startingOffsets", "earliest")
        .load()
        .select(
            F.col("key").cast("string").alias("key"),
            F.from_json(F.col("value").cast("string"), schema).alias("event"),
            "partition",
            "offset",
        )
        .select("key", "event.id",
                F.col("event.amount").cast("decimal(18,2)").alias("amount"), "partition", "offset")
    )
    query = (
        stream.writeStream.format("delta")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start(str(table))
    )
    query.awaitTermination(timeout=180)
    assert query.exception() is None

    landed = spark.read.format("delta").load(str(table))
    assert landed.count() == count
    assert landed.select("id").distinct().count() == count

    con = duckdb.connect()
    con.register("kafka_landing", DeltaTable(str(table)).to_pyarrow_dataset())
    rows, total, partitions = con.sql(
        "SELECT count(*), sum(amount), count(DISTINCT partition) FROM kafka_landing"
    ).fetchall()[0]
    assert rows == count
    assert total == sum(amounts)
    assert partitions == 3

    # A second availableNow run over the same checkpoint writes nothing twice.
    again = (
        stream.writeStream.format("delta")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start(str(table))
    )
    again.awaitTermination(timeout=180)
    assert DeltaTable(str(table)).to_pyarrow_dataset().count_rows() == count
