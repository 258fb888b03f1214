"""Kafka clients: the admin client and the consumers the library opens, each with the
profile's connection and security settings and a one-line error when the cluster is away.

The producer's own tuned client lives with it (producer.kafka_sink.make_producer); Spark's
readers and writers take `KafkaSettings.spark_options()`.
"""

from __future__ import annotations

from typing import Any

from lakehouse.errors import PaystreamError
from lakehouse.settings import KafkaSettings


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
