"""The instant query checks each payment once: valid payments, typed, for the stateful query,
and the instant alerts, from one read of each record (spark_jobs.valid_payments)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from lakehouse.rules import load_rules
from lakehouse.settings import load_settings
from spark_jobs.pipeline import KAFKA_SOURCE_SCHEMA

SENT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _event(n: int, amount: str, currency: str = "EUR") -> bytes:
    return json.dumps({
        "schema_version": 1, "transaction_id": f"tx{n}", "user_id": f"u{n % 3}",
        "card_id": f"c{n}", "amount": amount, "currency": currency, "merchant_id": f"m{n % 2}",
        "merchant_category": "5411",
        "timestamp": (SENT - timedelta(seconds=n, microseconds=250_000)).isoformat(),
        "location": {"country": "DE", "city": "Berlin", "lat": 52.520008, "lon": 13.404954},
        "channel": "pos"}).encode()


RECORDS = [
    (b"u0", _event(0, "12.50"), "transactions", 4, 10, SENT, 0, []),
    (b"u1", _event(1, "9000.00"), "transactions", 1, 11, SENT, 0, []),   # high_amount
    (b"u2", b"{not json", "transactions", 2, 12, SENT, 0, []),           # quarantined by silver
    (b"u0", _event(3, "-1.00"), "transactions", 4, 13, SENT, 0, []),     # non-positive amount
    (b"u1", _event(4, "7000.00", "USD"), "transactions", 5, 14, SENT, 0, []),  # high in EUR
]


def test_each_valid_payment_is_written_once_typed_beside_the_instant_alerts(spark) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    from lakehouse.rules import high_amount
    from spark_jobs import instant_alerts, valid_payments
    from spark_jobs.alert_sink import to_kafka_messages
    from spark_jobs.silver_transactions import check_contract, to_silver_rows

    rules = load_rules()
    kafka = spark.createDataFrame(RECORDS, KAFKA_SOURCE_SCHEMA)
    out = instant_alerts.transform(kafka, rules, 4).collect()
    by_topic: dict[str, list] = {}
    for row in out:
        by_topic.setdefault(row["topic"], []).append(row)
    assert set(by_topic) == {"transactions_valid", "alerts"}

    # one record per valid payment, in its source partition modulo the topic's partitions,
    # typed exactly as silver types it (the payload hash tells resends from conflicts)
    valid = by_topic["transactions_valid"]
    assert sorted(r["partition"] for r in valid) == [0, 1, 1]
    decoded = {r["transaction_id"]: r for r in valid_payments.payments(
        spark.createDataFrame(valid, valid_payments.RECORD_SCHEMA)).collect()}
    silver = {r["transaction_id"]: r for r in to_silver_rows(check_contract(
        kafka.withColumnRenamed("timestamp", "kafka_timestamp")
        .withColumn("ingest_time", F.current_timestamp())).where(F.size("reasons") == 0),
        0).collect()}
    assert set(decoded) == set(silver) == {"tx0", "tx1", "tx4"}
    for tx, row in decoded.items():
        want = silver[tx]
        assert (row["source_partition"], row["source_offset"]) == (
            want["source_partition"], want["source_offset"])
        assert row["amount_eur"] == want["amount_eur"] and isinstance(row["amount_eur"], Decimal)
        assert (row["lat"], row["lon"], row["city"]) == (want["lat"], want["lon"], want["city"])
        assert row["payload_sha256"] == want["payload_sha256"]
        assert row["event_ms"] == int(want["event_time"].timestamp() * 1000)
        assert row["kafka_ms"] == int(SENT.timestamp() * 1000)
    assert next(r for r in valid if json.loads(r["value"])["transaction_id"] == "tx0")["key"] \
        == b"u0"

    # the alerts are the batch rule's, in the alert sinks' format (detected_at aside)
    batch = to_kafka_messages(high_amount(
        to_silver_rows(check_contract(kafka.withColumnRenamed("timestamp", "kafka_timestamp")
                                      .withColumn("ingest_time", F.current_timestamp())), 0)
        .withColumn("payment_kafka_time", F.col("kafka_timestamp")),
        rules["high_amount"], F.current_timestamp())).collect()

    def without_clock(value: bytes) -> dict:
        alert = json.loads(value)
        alert.pop("detected_at")
        return alert

    alerts = by_topic["alerts"]
    assert all(r["partition"] is None for r in alerts)
    assert sorted(json.dumps(without_clock(r["value"])) for r in alerts) == sorted(
        json.dumps(without_clock(r["value"])) for r in batch)
    assert {json.loads(r["value"])["transaction_id"] for r in alerts} == {"tx1", "tx4"}


def test_the_instant_query_reads_each_record_once(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from spark_jobs import instant_alerts, io

    settings = load_settings(lake_root=tmp_path / "lake")
    source = io.read_kafka_stream(spark, settings, "transactions")
    plan = str(instant_alerts.transform(source, load_rules(), 6)._jdf.queryExecution()
               .analyzed().toString())
    sources = [line for line in plan.splitlines() if "StreamingRelationV2" in line]
    assert len(sources) == 1, plan[-3000:]
    assert "Generate inline" in plan
