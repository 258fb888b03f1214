"""Kafka client profiles: every client family gets the same knobs, Event Hubs' stay in bounds."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from lakehouse.errors import PaystreamError
from lakehouse.settings import KafkaClientSettings, KafkaSettings, load_settings
from lakehouse.topics import TopicSpec, reconcile_with

# The documented Event Hubs bounds, each held here independently of the settings module.
# https://learn.microsoft.com/azure/event-hubs/apache-kafka-configurations
# "The service will close connections if requests larger than 1,046,528 bytes are sent."
EH_MAX_REQUEST_BYTES = 1_046_528
# request.timeout.ms: permitted > 20000; recommended 60000 (at least) for consumers.
EH_MIN_REQUEST_TIMEOUT_MS = 20_000
EH_RECOMMENDED_REQUEST_TIMEOUT_MS = 60_000
# metadata.max.age.ms and connections.max.idle.ms: permitted < 240000 (Azure closes idle TCP).
EH_IDLE_TIMEOUT_MS = 240_000
# https://learn.microsoft.com/azure/event-hubs/azure-event-hubs-apache-kafka-overview#compression
# Kafka compression (gzip only) is supported on Premium and Dedicated; Standard takes none.
EH_STANDARD_COMPRESSION = "none"

EVENTHUBS_BOOTSTRAP = "paystream-eh.servicebus.windows.net:9093"

# What producer/kafka_sink.py hard-coded before the profiles (idle and metadata ages: the
# kafka-python and Java clients' own defaults, which it never changed).
OLD_PRODUCER_VALUES: dict[str, Any] = {
    "compression_type": "lz4", "request_timeout_ms": 10_000, "batch_size": 1_048_576,
    "max_request_size": 4_194_304, "linger_ms": 20, "delivery_timeout_ms": 30_000,
    "connections_max_idle_ms": 540_000, "metadata_max_age_ms": 300_000,
}

JAVA_NAMES = {
    "compression_type": "compression.type", "request_timeout_ms": "request.timeout.ms",
    "batch_size": "batch.size", "max_request_size": "max.request.size",
    "linger_ms": "linger.ms", "delivery_timeout_ms": "delivery.timeout.ms",
    "connections_max_idle_ms": "connections.max.idle.ms",
    "metadata_max_age_ms": "metadata.max.age.ms",
}

EVENTHUBS = KafkaClientSettings(platform="eventhubs")


def test_eventhubs_request_size_stays_under_the_request_limit() -> None:
    assert EVENTHUBS.max_request_size <= EH_MAX_REQUEST_BYTES


def test_eventhubs_batch_size_stays_under_the_request_limit() -> None:
    assert EVENTHUBS.batch_size <= EH_MAX_REQUEST_BYTES
    assert EVENTHUBS.batch_size <= EVENTHUBS.max_request_size


def test_eventhubs_request_timeout_is_the_recommended_one() -> None:
    assert EVENTHUBS.request_timeout_ms > EH_MIN_REQUEST_TIMEOUT_MS
    assert EVENTHUBS.request_timeout_ms >= EH_RECOMMENDED_REQUEST_TIMEOUT_MS


def test_eventhubs_idle_and_metadata_ages_stay_under_the_idle_timeout() -> None:
    assert EVENTHUBS.connections_max_idle_ms < EH_IDLE_TIMEOUT_MS
    assert EVENTHUBS.metadata_max_age_ms < EH_IDLE_TIMEOUT_MS


def test_eventhubs_sends_uncompressed() -> None:
    assert EVENTHUBS.compression_type == EH_STANDARD_COMPRESSION
    kafka = KafkaSettings(bootstrap=EVENTHUBS_BOOTSTRAP, client=EVENTHUBS)
    assert kafka.producer_config()["compression_type"] is None  # kafka-python's "none"


def test_eventhubs_delivery_timeout_leaves_room_for_a_request() -> None:
    assert EVENTHUBS.delivery_timeout_ms >= EVENTHUBS.linger_ms + EVENTHUBS.request_timeout_ms


def test_kafka_defaults_are_the_old_hard_coded_producer_values() -> None:
    client = KafkaSettings().client
    assert client.platform == "kafka"
    assert {name: getattr(client, name) for name in OLD_PRODUCER_VALUES} == OLD_PRODUCER_VALUES
    config = KafkaSettings().producer_config()
    assert {name: config[name] for name in OLD_PRODUCER_VALUES} == OLD_PRODUCER_VALUES


@pytest.mark.parametrize("platform", ["kafka", "eventhubs"])
def test_every_client_family_gets_the_same_values(platform: str) -> None:
    kafka = KafkaSettings(client=KafkaClientSettings(platform=platform))  # type: ignore[arg-type]
    client = kafka.client
    spark = kafka.spark_options()
    for name, java in JAVA_NAMES.items():
        if platform == "eventhubs":
            assert spark[f"kafka.{java}"] == str(getattr(client, name)), name
        else:  # Spark's Java clients keep their own defaults on Apache Kafka
            assert f"kafka.{java}" not in spark, name
    for config in (kafka.producer_config(), kafka.admin_config(), kafka.consumer_config()):
        for name in ("request_timeout_ms", "connections_max_idle_ms", "metadata_max_age_ms"):
            assert config[name] == getattr(client, name), name
        assert config["bootstrap_servers"] == kafka.bootstrap_servers


def test_a_callers_own_timeout_is_kept_locally_and_raised_on_eventhubs() -> None:
    assert KafkaSettings().admin_config(request_timeout_ms=15_000)["request_timeout_ms"] == 15_000
    assert KafkaSettings().consumer_config(request_timeout_ms=5_000)["request_timeout_ms"] == 5_000
    eventhubs = KafkaSettings(client=EVENTHUBS)
    assert eventhubs.consumer_config(request_timeout_ms=5_000)["request_timeout_ms"] == 60_000


def test_a_field_overrides_the_profile_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSTREAM_KAFKA__CLIENT__PLATFORM", "eventhubs")
    monkeypatch.setenv("PAYSTREAM_KAFKA__CLIENT__METADATA_MAX_AGE_MS", "120000")
    client = load_settings().kafka.client
    assert client.platform == "eventhubs"
    assert client.metadata_max_age_ms == 120_000
    assert client.max_request_size == EVENTHUBS.max_request_size


def test_an_eventhubs_bootstrap_with_the_kafka_profile_fails_in_one_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSTREAM_KAFKA__BOOTSTRAP", EVENTHUBS_BOOTSTRAP)
    monkeypatch.setenv("PAYSTREAM_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("PAYSTREAM_KAFKA__SASL_PASSWORD", "Endpoint=sb://secret-value")
    with pytest.raises(PaystreamError) as raised:
        load_settings()
    message = str(raised.value)
    assert "\n" not in message and "secret-value" not in message
    for setting in ("compression_type", "request_timeout_ms", "batch_size", "max_request_size",
                    "connections_max_idle_ms", "metadata_max_age_ms",
                    "PAYSTREAM_KAFKA__CLIENT__PLATFORM=eventhubs"):
        assert setting in message, setting


def test_an_eventhubs_profile_with_an_out_of_bounds_override_fails() -> None:
    with pytest.raises(ValueError, match="max_request_size 2000000"):
        KafkaClientSettings(platform="eventhubs", max_request_size=2_000_000)


def test_the_eventhubs_profile_passes_with_an_eventhubs_bootstrap() -> None:
    kafka = KafkaSettings(bootstrap=EVENTHUBS_BOOTSTRAP, security_protocol="SASL_SSL",
                          sasl_mechanism="PLAIN", sasl_username="$ConnectionString",
                          sasl_password=SecretStr("pw"), client=EVENTHUBS)
    assert kafka.is_eventhubs
    assert kafka.spark_options()["kafka.max.request.size"] == "1000000"


class RecordingAdmin:
    """A fake admin client that records which calls topics.py makes."""

    def __init__(self, partitions: dict[str, int]) -> None:
        self.partitions = partitions
        self.calls: list[str] = []

    def list_topics(self) -> list[str]:
        self.calls.append("list_topics")
        return list(self.partitions)

    def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        self.calls.append("describe_topics")
        return [{"name": name, "partitions": [{"replica_nodes": [0]}] * self.partitions[name]}
                for name in names]

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unmanaged topics must not call {name}")


SPECS = [TopicSpec("transactions", 6, 3, {"retention.ms": "1"}),
         TopicSpec("alerts", 2, 3, {"retention.ms": "1"})]


def test_unmanaged_topics_only_list_and_describe_and_report_partitions() -> None:
    admin = RecordingAdmin({"transactions": 4, "alerts": 3})
    changes = reconcile_with(admin, KafkaSettings(manage_topics=False), SPECS)
    assert set(admin.calls) == {"list_topics", "describe_topics"}
    # replication and configs are invisible without DescribeConfigs: not reported
    assert [(c.topic, c.action, c.detail) for c in changes] == [
        ("transactions", "grow_partitions", "4 -> 6"),
        ("alerts", "cannot_shrink",
         "has 3 partitions, config asks 2; Kafka cannot remove partitions")]


def test_an_unmanaged_missing_topic_is_an_error_without_describe_configs() -> None:
    admin = RecordingAdmin({"transactions": 6})
    with pytest.raises(PaystreamError, match="topics missing on .*: alerts"):
        reconcile_with(admin, KafkaSettings(manage_topics=False), SPECS)
    assert "describe_configs" not in admin.calls
