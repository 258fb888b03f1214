"""`paystream produce` against the real broker: what arrives equals what the generator made."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic

from lakehouse.settings import Settings
from paystream.runtime.processes import wait_until
from producer.generator import PaymentStream
from producer.main import ProduceRequest, generator_options
from tests.conftest import run_cli
from tests.integration.pipeline_checks import topic_records

pytestmark = pytest.mark.integration


def _consume_all(settings: Settings, topic: str, expected: int) -> list:  # type: ignore[type-arg]
    consumer = KafkaConsumer(topic, **settings.kafka.python_client_config(),
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=15_000, group_id=None,
                             fetch_max_bytes=8 * 1024 * 1024)
    try:
        received = []
        for message in consumer:
            received.append(message)
            if len(received) >= expected:
                break
        return received
    finally:
        consumer.close()


def test_produce_round_trip_matches_the_generator(live_services: Settings,
                                                  unique_topic: str) -> None:
    admin = KafkaAdminClient(**live_services.kafka.python_client_config())
    admin.create_topics([NewTopic(unique_topic, 3, 1)], wait_for_metadata=True)
    admin.close()
    args = ["--count", "3000", "--rate", "0", "--seed", "7", "--start", "2026-11-01T08:00:00",
            "--fraud-rate", "0.05", "--fault-rate", "0.05", "--topic", unique_topic, "--quiet"]
    result = run_cli("produce", *args)
    assert result.returncode == 0, result.stderr
    assert "sent 3,000, acknowledged 3,000, errors 0" in result.stdout
    assert "by fault:" in result.stdout

    request = ProduceRequest(count=3000, rate=0, seed=7, start="2026-11-01T08:00:00",
                             fraud_rate=0.05, fault_rate=0.05, topic=unique_topic)
    expected = list(itertools.islice(PaymentStream(generator_options(request)), 3000))
    received = _consume_all(live_services, unique_topic, 3000)
    assert len(received) == 3000

    def triple(key: bytes, value: bytes, headers: list) -> tuple:  # type: ignore[type-arg]
        return key, value, tuple(headers)

    assert sorted(triple(m.key, m.value, m.headers) for m in received) == sorted(
        triple(r.key, r.value, r.headers) for r in expected)
    # Order is kept per key (per partition), the way Kafka promises it.
    for key in {r.key for r in expected[:200]}:
        assert [m.value for m in received if m.key == key] == [
            r.value for r in expected if r.key == key]


def test_replay_round_trip(live_services: Settings, unique_topic: str, tmp_path: Path) -> None:
    admin = KafkaAdminClient(**live_services.kafka.python_client_config())
    admin.create_topics([NewTopic(unique_topic, 1, 1)], wait_for_metadata=True)
    admin.close()
    path = tmp_path / "few.csv"
    path.write_text(
        "transaction_id,user_id,card_id,amount,currency,merchant_id,merchant_category,timestamp,"
        "location.country,location.city,location.lat,location.lon,channel\n"
        "b,u-2,c-2,5.00,EUR,m-1,5411,2026-11-29T10:05:00Z,DE,Berlin,52.52,13.405,pos\n"
        "a,u-1,c-1,9.99,EUR,m-1,5411,2026-11-29T10:00:00Z,DE,Berlin,52.52,13.405,pos\n")
    result = run_cli("produce", "--replay", str(path), "--topic", unique_topic, "--rate", "0",
                     "--quiet")
    assert result.returncode == 0, result.stderr
    received = _consume_all(live_services, unique_topic, 2)
    assert [m.key for m in received] == [b"u-1", b"u-2"]
    assert [dict(m.headers)["scenario"] for m in received] == [b"replay", b"replay"]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--count", "5", "--scenarios", "bogus"], "unknown scenarios: bogus"),
     (["--count", "5", "--start", "yesterday"], "is not an ISO-8601"),
     (["--count", "5", "--topic", "no_such_topic_here"], "does not exist"),
     (["--count", "-1"], "is negative")],
)
def test_produce_flag_errors_are_one_line(live_services: Settings, args: list[str],
                                          message: str) -> None:
    result = run_cli("produce", *args, "--quiet")
    assert result.returncode in (1, 2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_produce_without_count_runs_until_sigterm_and_everything_acknowledged_arrived(
        live_services: Settings, unique_topic: str) -> None:
    """The README's live producer: no --count, no --duration; SIGTERM ends it cleanly."""
    admin = KafkaAdminClient(**live_services.kafka.python_client_config())
    admin.create_topics([NewTopic(unique_topic, 3, 1)], wait_for_metadata=True)
    admin.close()
    process = subprocess.Popen(
        [sys.executable, "-m", "paystream.cli", "produce", "--rate", "200", "--fault-rate",
         "0.02", "--topic", unique_topic, "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert wait_until(lambda: process.poll() is not None
                          or topic_records(live_services, unique_topic) >= 400, 120)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "stopped by SIGTERM" in out, out
    acknowledged = re.search(r"acknowledged ([\d,]+), errors 0", out)
    assert acknowledged, out
    assert int(acknowledged.group(1).replace(",", "")) == topic_records(live_services, unique_topic)
