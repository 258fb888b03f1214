"""Each rule's golden cases (tests/golden_rules/RULE.yaml), run through both engines.

A case is a short list of payments written by hand and the payments that must alert; the
expected alerts come from the case, never from the other engine. Every case goes through
the Spark expression (lakehouse.rules, which the batch backfill, the backtest and the
instant query run) and, for the rules the stateful query judges, through the Java processor
(spark_jobs/jvm) as a stream. All cases of all rules share one stream run: each case has its
own users, cards and merchants, so cases cannot see each other.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse.rules import (
    MERCHANT_RULES,
    USER_RULES,
    elevated_ticket_eur,
    evaluate_rules,
    load_rules,
)
from spark_jobs.pipeline import KAFKA_SOURCE_SCHEMA

GOLDEN = Path(__file__).resolve().parents[1] / "golden_rules"
START = (datetime.now(UTC) - timedelta(hours=20)).replace(microsecond=0)
PLACES = {"Berlin": (52.52, 13.40), "Paris": (48.86, 2.35), "Potsdam": (52.39, 13.06),
          "Madrid": (40.42, -3.70), "Sydney": (-33.87, 151.21)}
STREAMED = USER_RULES + MERCHANT_RULES
"""The rules the Java processor judges (without risk decisions)."""


def _cases() -> list[tuple[str, int, dict[str, Any]]]:
    return [(document["rule"], number, case)
            for path in sorted(GOLDEN.glob("*.yaml"))
            for document in [yaml.safe_load(path.read_text())]
            for number, case in enumerate(document["cases"])]


CASES = _cases()


def _events(rule_id: str, number: int, case: dict[str, Any]) -> list[dict[str, Any]]:
    """The case's payments as contract events, every id made the case's own."""
    # The least amount in cents (the contract's amounts have two places) that is elevated.
    elevated = elevated_ticket_eur(load_rules()["compromised_merchant"])["5411"].quantize(
        Decimal("0.01"), rounding=ROUND_CEILING)
    amounts = {"elevated": str(elevated), "below_elevated": str(elevated - Decimal("0.01"))}
    prefix = f"{rule_id}-{number}-"
    events = []
    for payment in case["payments"]:
        city = payment.get("city", "Berlin")
        lat, lon = PLACES[city]
        stamp = (START + timedelta(seconds=payment["at"])).isoformat(timespec="milliseconds")
        amount = str(payment.get("amount", "10.00"))
        events.append({
            "schema_version": 1, "transaction_id": prefix + payment["id"],
            "user_id": prefix + payment.get("user", "u1"),
            "card_id": prefix + payment.get("card", "c1"),
            "amount": amounts.get(amount, amount), "currency": "EUR",
            "merchant_id": prefix + payment.get("merchant", "m1"),
            "merchant_category": "5411", "timestamp": stamp[:23] + "Z",
            "location": {"country": "DE", "city": city, "lat": lat, "lon": lon},
            "channel": payment.get("channel", "pos")})
    return events


def _expected(rule_id: str, number: int, case: dict[str, Any]) -> set[str]:
    return {f"{rule_id}-{number}-{tx}" for tx in case["alerts"]}


def _batch_alerts(spark, rule_id: str, events: list[dict[str, Any]]) -> set[str]:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    rows = [(e["transaction_id"], e["user_id"], e["card_id"], Decimal(e["amount"]),
             e["merchant_id"], e["merchant_category"],
             datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")), e["channel"],
             e["location"]["lat"], e["location"]["lon"], e["location"]["city"]) for e in events]
    frame = spark.createDataFrame(
        rows, "transaction_id string, user_id string, card_id string, amount_eur decimal(18,2), "
        "merchant_id string, merchant_category string, event_time timestamp, channel string, "
        "lat double, lon double, city string").withColumn("event_date", F.to_date("event_time"))
    rule = {rule_id: load_rules()[rule_id]}
    return {r["transaction_id"] for r in evaluate_rules(frame, rule, F.current_timestamp())
            .collect()}


@pytest.mark.parametrize("rule_id, number, case", CASES,
                         ids=[f"{r}: {c['name']}" for r, _, c in CASES])
def test_the_spark_expression_raises_exactly_the_cases_alerts(  # type: ignore[no-untyped-def]
        spark, rule_id: str, number: int, case: dict[str, Any]) -> None:
    assert _batch_alerts(spark, rule_id, _events(rule_id, number, case)) == _expected(
        rule_id, number, case)


@pytest.fixture(scope="module")
def streamed(spark, tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(rule_id, transaction_id) of every alert the Java processor raised over all cases, the
    payments sent in event-time order in one micro-batch over two Kafka partitions."""
    from spark_jobs.stateful_alerts import transform

    events = sorted((e for rule_id, number, case in CASES if rule_id in STREAMED
                     for e in _events(rule_id, number, case)), key=lambda e: e["timestamp"])
    offsets = {0: 0, 1: 0}
    kafka_rows = []
    for event in events:
        partition = sum(event["user_id"].encode()) % 2
        kafka_rows.append((event["user_id"].encode(), json.dumps(event).encode(),
                           "transactions", partition, offsets[partition], datetime.now(UTC), 0,
                           []))
        offsets[partition] += 1
    folder = tmp_path_factory.mktemp("golden")
    source = folder / "source"
    spark.createDataFrame(kafka_rows, KAFKA_SOURCE_SCHEMA).coalesce(1).write.parquet(str(source))
    name = f"golden_{uuid.uuid4().hex[:8]}"
    query = (transform(spark.readStream.schema(KAFKA_SOURCE_SCHEMA).parquet(str(source)),
                       load_rules(), 1800)
             .select("rule_id", "transaction_id").writeStream.format("memory").queryName(name)
             .outputMode("update").option("checkpointLocation", str(folder / "checkpoint"))
             .start())
    try:
        query.processAllAvailable()
        return {(r["rule_id"], r["transaction_id"]) for r in spark.table(name).collect()}
    finally:
        query.stop()


@pytest.mark.parametrize("rule_id, number, case", [c for c in CASES if c[0] in STREAMED],
                         ids=[f"{r}: {c['name']}" for r, _, c in CASES if r in STREAMED])
def test_the_java_processor_raises_exactly_the_cases_alerts(
        streamed: set[tuple[str, str]], rule_id: str, number: int, case: dict[str, Any]) -> None:
    prefix = f"{rule_id}-{number}-"
    raised = {tx for rule, tx in streamed if rule == rule_id and tx.startswith(prefix)}
    assert raised == _expected(rule_id, number, case)


def test_every_rule_the_engines_judge_has_golden_cases() -> None:
    covered = {rule_id for rule_id, _, _ in CASES}
    assert covered == {"high_amount", *STREAMED}
    for rule_id in covered:
        cases = [case for r, _, case in CASES if r == rule_id]
        assert any(case["alerts"] for case in cases), f"{rule_id}: no case that alerts"
        assert any(not case["alerts"] for case in cases) or rule_id == "high_amount", rule_id
