"""Each rule's golden cases (tests/golden_rules/RULE.yaml), run through both engines.

A case is a short list of payments written by hand and the payments that must alert; the
expected alerts come from the case, never from the other engine. Every case goes through
the Spark expression (lakehouse.rules, which the batch backfill, the backtest and the
instant query run) and, for the rules the stateful query judges, through the Java processor
(spark_jobs/jvm) as a stream. All cases of all rules share one stream run: each case has its
own users, cards and merchants, so cases cannot see each other.

A behavioural rule's case (risky_terminal) places its payments on whole days before today and
brings fraud labels, each with the time it became known: the batch computes the features
(lakehouse.behaviour) from the case's payments and labels, the stream gets the labels on its
`labels` source in the same micro-batch as the payments, as the stateful query reads them.
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

from lakehouse.behaviour import TerminalWindow, with_features
from lakehouse.risk import load_risk
from lakehouse.rules import (
    BEHAVIOUR_RULES,
    MERCHANT_RULES,
    RULES_PATH,
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
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
"""Behavioural cases count `day` from here (all their days are before today)."""
STREAMED = USER_RULES + MERCHANT_RULES + ("risky_terminal",)
"""The rules the Java processor judges (risky_terminal with the risk decisions)."""


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
    for payment in _expanded(case["payments"]):
        city = payment.get("city", "Berlin")
        lat, lon = PLACES[city]
        stamp = _moment(payment).isoformat(timespec="milliseconds")
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


def _moment(item: dict[str, Any]) -> datetime:
    """A payment's or label's time: `at` seconds after START, or `day` and `hour` from TODAY."""
    if "at" in item:
        return START + timedelta(seconds=item["at"])
    return TODAY + timedelta(days=item["day"], hours=item["hour"])


def _expanded(payments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The payments with each `repeat: n` made n payments (id1..idn, 15 minutes apart, by
    users u0..u3 in turn)."""
    out = []
    for payment in payments:
        count = payment.get("repeat")
        if count is None:
            out.append(payment)
            continue
        out += [{**payment, "id": f"{payment['id']}{k + 1}", "hour": payment["hour"] + k / 4,
                 "user": f"u{k % 4}", "card": f"c{k % 4}"} for k in range(count)]
    return out


def _labels(rule_id: str, number: int, case: dict[str, Any]) -> list[dict[str, Any]]:
    """The case's fraud labels as Kafka `labels` messages (with their payment's merchant and
    event time, as spark_jobs.gold_labels publishes them)."""
    prefix = f"{rule_id}-{number}-"
    events = {e["transaction_id"]: e for e in _events(rule_id, number, case)}
    out = []
    for label in case.get("labels", []):
        event = events[prefix + label["id"]]
        out.append({"transaction_id": event["transaction_id"], "label": "fraud",
                    "merchant_id": event["merchant_id"], "event_time": event["timestamp"],
                    "labelled_at": _moment(label).isoformat()})
    return out


def _expected(rule_id: str, number: int, case: dict[str, Any]) -> set[str]:
    return {f"{rule_id}-{number}-{tx}" for tx in case["alerts"]}


def _batch_alerts(spark, rule_id: str, events: list[dict[str, Any]],  # type: ignore[no-untyped-def]
                  labels: list[dict[str, Any]]) -> set[str]:
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
    if rule_id in BEHAVIOUR_RULES:
        known = spark.createDataFrame(
            [(lab["transaction_id"], lab["label"], None,
              datetime.fromisoformat(lab["labelled_at"])) for lab in labels],
            "transaction_id string, label string, scenario string, labelled_at timestamp")
        frame = with_features(frame, frame, known, TerminalWindow.of(rule), {})
    return {r["transaction_id"] for r in evaluate_rules(frame, rule, F.current_timestamp())
            .collect()}


@pytest.fixture(scope="module")
def behavioural(spark) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    """Rule id -> the transactions the Spark expression flags over all of its cases at once
    (one feature computation: each case has its own users and merchants)."""
    out = {}
    for rule_id in sorted({r for r, _, _ in CASES if r in BEHAVIOUR_RULES}):
        mine = [(number, case) for r, number, case in CASES if r == rule_id]
        out[rule_id] = _batch_alerts(
            spark, rule_id, [e for number, case in mine for e in _events(rule_id, number, case)],
            [lab for number, case in mine for lab in _labels(rule_id, number, case)])
    return out


@pytest.mark.parametrize("rule_id, number, case", CASES,
                         ids=[f"{r}: {c['name']}" for r, _, c in CASES])
def test_the_spark_expression_raises_exactly_the_cases_alerts(  # type: ignore[no-untyped-def]
        spark, request: pytest.FixtureRequest, rule_id: str, number: int,
        case: dict[str, Any]) -> None:
    if rule_id in BEHAVIOUR_RULES:
        prefix = f"{rule_id}-{number}-"
        flagged = request.getfixturevalue("behavioural")[rule_id]
        raised = {tx for tx in flagged if tx.startswith(prefix)}
    else:
        raised = _batch_alerts(spark, rule_id, _events(rule_id, number, case), [])
    assert raised == _expected(rule_id, number, case)


@pytest.fixture(scope="module")
def streamed(spark, tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(rule_id, transaction_id) of every alert the Java processor raised over all cases, the
    payments sent in event-time order in one micro-batch over two Kafka partitions, the labels
    on the `labels` source in the same micro-batch (with the risk decisions, as the stream runs
    it; no category factors)."""
    from spark_jobs.stateful_alerts import keyed_rows, only_alerts

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
    labels = [(lab["transaction_id"].encode(), json.dumps(lab).encode(), "labels", 0, i,
               datetime.now(UTC), 0, [])
              for i, lab in enumerate(lab for rule_id, number, case in CASES
                                      for lab in _labels(rule_id, number, case))]
    folder = tmp_path_factory.mktemp("golden")
    source, label_source = folder / "source", folder / "labels"
    spark.createDataFrame(kafka_rows, KAFKA_SOURCE_SCHEMA).coalesce(1).write.parquet(str(source))
    spark.createDataFrame(labels, KAFKA_SOURCE_SCHEMA).coalesce(1).write.parquet(
        str(label_source))
    name = f"golden_{uuid.uuid4().hex[:8]}"
    rows = keyed_rows(spark.readStream.schema(KAFKA_SOURCE_SCHEMA).parquet(str(source)),
                      load_rules(), 1800, load_risk(RULES_PATH),
                      spark.readStream.schema(KAFKA_SOURCE_SCHEMA).parquet(str(label_source)),
                      factors={})
    query = (only_alerts(rows)
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
