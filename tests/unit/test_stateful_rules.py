"""The stateful query (Java processor on keyed state) raises exactly the batch rules' alerts.

Payments arrive out of order in many micro-batches over two Kafka partitions, some
late within the allowed lateness, some beyond it, with resends and conflicting
duplicates; the stream's alerts must equal lakehouse.rules (Spark SQL) over the
payments silver accepts, each alert raised once.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from lakehouse.rules import (
    MERCHANT_RULES,
    USER_RULES,
    elevated_ticket_eur,
    evaluate_rules,
    load_rules,
)
from spark_jobs.pipeline import KAFKA_SOURCE_SCHEMA

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=3)
LATENESS_S = 1800
CITIES = [("Berlin", 52.52, 13.40), ("Paris", 48.86, 2.35), ("Madrid", 40.42, -3.70),
          ("Lisbon", 38.72, -9.14), ("Potsdam", 52.39, 13.06)]


def _user_payments(rng: random.Random) -> list[dict]:
    """Bursty payments of a few users: bursts, card-testing runs, far-apart cities."""
    out: list[dict] = []
    clock = {f"u{i}": 0 for i in range(6)}
    while len(out) < 700:
        user = f"u{rng.randrange(6)}"
        clock[user] += rng.choice([1_000, 5_000, 9_000, 30_000, 600_000, 3_000_000])
        city, lat, lon = rng.choice(CITIES)
        if rng.random() < 0.02:  # a card-testing run: tiny online payments, many merchants
            for merchant in rng.sample(range(8), 5):
                clock[user] += 10_000
                out.append(_event(len(out), user, f"c-{user}", f"m{merchant}", "0.99",
                                  clock[user], "ecommerce", city, lat, lon))
            continue
        out.append(_event(len(out), user, f"c-{user}", f"m{rng.randrange(8)}",
                          rng.choice(["0.99", "1.50", "2.00", "45.10"]), clock[user],
                          rng.choice(["ecommerce", "pos", "contactless", "atm"]), city, lat, lon))
    return out


def _merchant_payments(rng: random.Random) -> list[dict]:
    """Elevated and ordinary tickets of many cards at three merchants."""
    elevated = elevated_ticket_eur(load_rules()["compromised_merchant"])["5411"]
    out, clock = [], 0
    for n in range(500):
        clock += rng.choice([5_000, 20_000, 60_000, 400_000])
        amount = (elevated * Decimal(rng.choice(["0.5", "1.0", "1.5"]))).quantize(Decimal("0.01"))
        user = f"u{n % 40}"
        out.append(_event(n, user, f"c{rng.randrange(12)}", f"m{rng.randrange(3)}", str(amount),
                          clock, "pos", "Berlin", 52.52, 13.40))
    return out


def _event(n: int, user: str, card: str, merchant: str, amount: str, ms: int, channel: str,
           city: str, lat: float, lon: float) -> dict:
    stamp = (START + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")[:23] + "Z"
    return {"schema_version": 1, "transaction_id": f"tx{n}", "user_id": user, "card_id": card,
            "amount": amount, "currency": "EUR", "merchant_id": merchant,
            "merchant_category": "5411", "timestamp": stamp,
            "location": {"country": "DE", "city": city, "lat": lat, "lon": lon},
            "channel": channel}


def _ms(event: dict) -> int:
    moment = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
    return int((moment - START).total_seconds() * 1000)


def _arrival(events: list[dict], rng: random.Random) -> list[dict]:
    """Event order with some payments held back (late within, and a few beyond, the lateness),
    some resent and some sent again with another payload."""
    held = [0] * 6 + [200_000, 1_000_000, 3_000_000]
    order = sorted(events, key=lambda e: _ms(e) + rng.choice(held))
    out = []
    for event in order:
        out.append(event)
        roll = rng.random()
        if roll < 0.03:
            out.append(dict(event))  # a resend
        elif roll < 0.05:
            out.append({**event, "amount": "0.50"})  # a conflicting duplicate
    return out


def _accepted(arrival: list[dict]) -> list[dict]:
    """What silver keeps: not too late for its partition, first record of each id."""
    newest: dict[int, int] = {}
    seen: set[str] = set()
    kept = []
    for event in arrival:
        partition, ms = _partition(event), _ms(event)
        before = newest.get(partition)
        if before is not None and ms < before - LATENESS_S * 1000:
            continue
        newest[partition] = ms if before is None else max(before, ms)
        if event["transaction_id"] not in seen:
            seen.add(event["transaction_id"])
            kept.append(event)
    return kept


def _partition(event: dict) -> int:
    return int(event["user_id"][1:]) % 2


def _expected(spark, accepted: list[dict]) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    rows = [(e["transaction_id"], e["user_id"], e["card_id"], Decimal(e["amount"]),
             e["merchant_id"], e["merchant_category"], START + timedelta(milliseconds=_ms(e)),
             e["channel"], e["location"]["lat"], e["location"]["lon"], e["location"]["city"])
            for e in accepted]
    frame = spark.createDataFrame(
        rows, "transaction_id string, user_id string, card_id string, amount_eur decimal(18,2), "
        "merchant_id string, merchant_category string, event_time timestamp, channel string, "
        "lat double, lon double, city string").withColumn("event_date", F.to_date("event_time"))
    # Without risk decisions the processor keeps no profiles: the behavioural rules stay out.
    rules = {k: r for k, r in load_rules().items() if k in USER_RULES + MERCHANT_RULES}
    return {(r["rule_id"], r["transaction_id"])
            for r in evaluate_rules(frame, rules, F.current_timestamp()).collect()}


def _stream(spark, arrival: list[dict], folder: Path, batch: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Run the stateful transform over the arrivals, `batch` records per micro-batch."""
    from spark_jobs.stateful_alerts import transform

    source, staging = folder / "source", folder / "staging"
    source.mkdir(parents=True)
    offsets = {0: 0, 1: 0}
    kafka_rows = []
    for event in arrival:
        partition = _partition(event)
        kafka_rows.append((event["user_id"].encode(), json.dumps(event).encode(), "transactions",
                           partition, offsets[partition], NOW, 0, []))
        offsets[partition] += 1
    name = f"stateful_{uuid.uuid4().hex[:8]}"
    stream = spark.readStream.schema(KAFKA_SOURCE_SCHEMA).parquet(str(source))
    query = (transform(stream, load_rules(), LATENESS_S)
             .select("rule_id", "transaction_id").writeStream.format("memory").queryName(name)
             .outputMode("update").option("checkpointLocation", str(folder / "checkpoint"))
             .start())
    try:
        for n, start in enumerate(range(0, len(kafka_rows), batch)):
            frame = spark.createDataFrame(kafka_rows[start:start + batch], KAFKA_SOURCE_SCHEMA)
            frame.coalesce(1).write.parquet(str(staging / str(n)))
            part = next((staging / str(n)).glob("part-*.parquet"))
            part.rename(source / f"batch-{n:04d}.parquet")
            query.processAllAvailable()
        return [(r["rule_id"], r["transaction_id"]) for r in spark.table(name).collect()]
    finally:
        query.stop()


@pytest.mark.parametrize("make_payments,seed", [(_user_payments, 1), (_user_payments, 2),
                                                (_merchant_payments, 3)])
def test_stream_alerts_in_any_arrival_order_equal_the_batch_rules(  # type: ignore[no-untyped-def]
        spark, tmp_path: Path, make_payments, seed: int) -> None:
    rng = random.Random(seed)
    arrival = _arrival(make_payments(rng), rng)
    accepted = _accepted(arrival)
    assert len(accepted) < len({e["transaction_id"] for e in arrival})  # some were too late
    streamed = _stream(spark, arrival, tmp_path, batch=60)
    assert len(streamed) == len(set(streamed))  # each alert raised once
    expected = _expected(spark, accepted)
    wanted = {"compromised_merchant"} if make_payments is _merchant_payments else {
        "velocity", "card_testing", "impossible_travel"}
    assert {rule for rule, _ in expected} >= wanted
    assert set(streamed) == expected


@pytest.mark.parametrize("width", [2, 6, 8])
def test_each_stage_bucket_lands_in_its_own_shuffle_partition(spark, width: int) -> None:  # type: ignore[no-untyped-def]
    """The stages' keys spread over every task: Spark's hash partitioning (the one a stateful
    shuffle uses) puts bucket b's key in partition b, so no two buckets share a task."""
    from pyspark.sql import functions as F

    keys = list(spark._jvm.paystream.StatefulAlerts.spreadKeys(width))
    frame = spark.createDataFrame([(b, k) for b, k in enumerate(keys)], "bucket int, key int")
    placed = frame.repartition(width, "key").select("bucket", F.spark_partition_id().alias("p"))
    assert {(r["bucket"], r["p"]) for r in placed.collect()} == {(b, b) for b in range(width)}
