"""`paystream bench produce`: the producer's events/s beside Kafka's own perf test.

Four figures from one run on the same broker and machine:
generator alone, kafka-python send alone (pre-built records), both together
(what `paystream produce --rate 0` does), and Kafka's kafka-producer-perf-test
(Java) with the same record count, record size and producer settings.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from lakehouse.errors import PaystreamError
from lakehouse.java import find_java
from lakehouse.settings import KafkaClientSettings, Settings
from lakehouse.stores.kafka import admin_client
from lakehouse.topics import TopicSpec
from paystream.runtime.kafka_broker import broker_classpath
from producer.generator import GeneratorOptions, PaymentStream, ProducedRecord
from producer.kafka_sink import PRODUCER_DEFAULTS, make_producer, send_records
from producer.rule_params import load_scenario_params

BENCH_TOPIC = "bench_transactions"
_PERF_LINE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)")


@dataclass(frozen=True)
class BenchFigure:
    """One measured figure."""

    name: str
    events_per_s: float
    note: str


def _fresh_topic(settings: Settings, partitions: int) -> None:
    from kafka.admin import NewTopic

    admin = admin_client(settings.kafka)
    try:
        if BENCH_TOPIC in admin.list_topics():
            admin.delete_topics([BENCH_TOPIC])
            time.sleep(1.0)
        spec = TopicSpec(BENCH_TOPIC, partitions, 1, {"retention.ms": "3600000"})
        admin.create_topics([NewTopic(spec.name, spec.partitions, spec.replication_factor,
                                      topic_configs=spec.config)], wait_for_metadata=True)
    finally:
        admin.close()


def _stream(seed: int) -> PaymentStream:
    return PaymentStream(GeneratorOptions(
        seed=seed, fraud_rate=0.01, fault_rate=0.0, start=datetime(2026, 11, 2, 9, tzinfo=UTC),
        step_seconds=0.001, params=load_scenario_params()))


def java_perf_test(settings: Settings, count: int, record_size: int) -> tuple[float, str]:
    """Run Kafka's ProducerPerformance on the bench topic; return records/s and its last line."""
    props = {
        **settings.kafka.java_client_config(),
        **settings.kafka.java_tuning_config(),
        "acks": "all",
        "enable.idempotence": "true",
    }
    command = [
        str(find_java()), "-Xmx512m", "-cp", broker_classpath(settings),
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic", BENCH_TOPIC, "--num-records", str(count), "--record-size", str(record_size),
        "--throughput", "-1", "--producer-props", *[f"{k}={v}" for k, v in props.items()],
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    matches = _PERF_LINE.findall(result.stdout)
    if result.returncode != 0 or not matches:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise PaystreamError(f"kafka-producer-perf-test failed: {tail[0]}")
    last = [line for line in result.stdout.splitlines() if _PERF_LINE.search(line)][-1]
    return float(matches[-1][1]), last.strip()


def bench_produce(settings: Settings, count: int = 200_000, partitions: int = 6,
                  seed: int = 42) -> list[BenchFigure]:
    """Measure the four figures; each uses `count` events."""
    from producer.main import relax_garbage_collector

    figures = []
    _fresh_topic(settings, partitions)
    relax_garbage_collector()

    started = time.perf_counter()
    prebuilt: list[ProducedRecord] = list(itertools.islice(_stream(seed), count))
    generate_s = time.perf_counter() - started
    figures.append(BenchFigure("generator alone (no Kafka)", count / generate_s,
                               "synthetic events with 1% fraud, built in memory"))
    record_size = round(sum(len(r.value) for r in prebuilt) / len(prebuilt))

    producer = make_producer(settings.kafka)
    try:
        summary = send_records(prebuilt, producer, BENCH_TOPIC, spill_dir=settings.home / "bench",
                               progress=False)
    finally:
        producer.close(timeout=5)
    del prebuilt
    figures.append(BenchFigure("kafka-python send alone", summary.rate,
                               f"pre-built records, {summary.errors} errors"))

    producer = make_producer(settings.kafka)
    try:
        summary = send_records(itertools.islice(_stream(seed + 1), count), producer, BENCH_TOPIC,
                               spill_dir=settings.home / "bench", progress=False)
    finally:
        producer.close(timeout=5)
    figures.append(BenchFigure("paystream produce --rate 0", summary.rate,
                               f"generate + send, one process, {summary.errors} errors"))

    java_rate, java_line = java_perf_test(settings, count, record_size)
    figures.append(BenchFigure("kafka-producer-perf-test (Java)", java_rate, java_line))
    return figures


def bench_settings_line(count: int, partitions: int, record_size_hint: str = "",
                        client: KafkaClientSettings | None = None) -> str:
    """The producer settings every figure shares, for the report."""
    client = client or KafkaClientSettings()
    shared = {**PRODUCER_DEFAULTS, "linger_ms": client.linger_ms,
              "batch_size": client.batch_size, "compression_type": client.compression_type}
    props = ", ".join(f"{k}={v}" for k, v in shared.items()
                      if k in ("acks", "enable_idempotence", "linger_ms", "batch_size",
                               "compression_type"))
    return (f"{count:,} events per figure, topic {BENCH_TOPIC} with {partitions} partitions, "
            f"{props}{record_size_hint}")
