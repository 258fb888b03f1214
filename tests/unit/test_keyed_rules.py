"""The stream's per-user rules (pure Python on state) equal the batch rules (Spark SQL)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from lakehouse.keyed_rules import Payment, UserState, horizon_ms, judge, settle
from lakehouse.rules import USER_RULES, evaluate_rules, load_rules

START = datetime(2026, 11, 1, tzinfo=UTC)
CITIES = [("Berlin", 52.52, 13.40), ("Paris", 48.86, 2.35), ("Madrid", 40.42, -3.70),
          ("Lisbon", 38.72, -9.14), ("Potsdam", 52.39, 13.06)]


def _payments(seed: int, users: int = 6, count: int = 700) -> list[tuple[str, Payment]]:
    """Bursty payments of a few users: bursts, tiny online ones, far-apart cities."""
    rng = random.Random(seed)
    out = []
    clock = {f"u{i}": 0 for i in range(users)}
    for n in range(count):
        user = f"u{rng.randrange(users)}"
        clock[user] += rng.choice([1_000, 5_000, 9_000, 30_000, 600_000, 3_000_000])
        city, lat, lon = rng.choice(CITIES)
        amount = rng.choice([Decimal("0.99"), Decimal("1.50"), Decimal("2.00"), Decimal("45.10")])
        out.append((user, Payment(clock[user], f"tx{n}", amount, f"m{rng.randrange(8)}",
                                  rng.choice(["ecommerce", "pos", "contactless", "atm"]),
                                  lat, lon, city)))
    return out


def _batch_alert_ids(spark, payments: list[tuple[str, Payment]]) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    rows = [(p.transaction_id, user, p.amount_eur, p.merchant_id, "5411",
             START + timedelta(milliseconds=p.ms), p.channel, p.lat, p.lon, p.city, "c")
            for user, p in payments]
    frame = spark.createDataFrame(rows, "transaction_id string, user_id string, "
                                  "amount_eur decimal(18,2), merchant_id string, "
                                  "merchant_category string, event_time timestamp, "
                                  "channel string, lat double, lon double, city string, "
                                  "card_id string").withColumn("event_date",
                                                               F.to_date("event_time"))
    rules = {k: r for k, r in load_rules().items() if k in USER_RULES}
    return {(r["rule_id"], r["transaction_id"])
            for r in evaluate_rules(frame, rules, F.current_timestamp()).collect()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stream_judging_in_any_arrival_order_equals_the_batch_rules(spark, seed: int) -> None:  # type: ignore[no-untyped-def]
    payments = _payments(seed)
    rng = random.Random(seed)
    # Arrival order: event order, with some payments held back (late, within any horizon).
    arrival = sorted(payments, key=lambda up: up[1].ms + (rng.choice([0, 0, 0, 200_000])))
    rules = {k: r for k, r in load_rules().items() if k in USER_RULES}
    states: dict[str, UserState] = {}
    streamed: set[tuple[str, str]] = set()
    for start in range(0, len(arrival), 37):  # batches of 37 arrivals
        by_user: dict[str, list[Payment]] = {}
        for user, payment in arrival[start:start + 37]:
            state = states.setdefault(user, UserState())
            if settle(state, payment.transaction_id, "h", payment.ms, 10**9) == "new":
                by_user.setdefault(user, []).append(payment)
        for user, arrived in by_user.items():
            state = UserState.decode(states[user].encode())  # through the state store's form
            for hit in judge(state, arrived, rules, keep_ms=horizon_ms(rules) + 200_000):
                key = (hit.rule_id, hit.payment.transaction_id)
                assert key not in streamed, key
                streamed.add(key)
            states[user] = state
    expected = _batch_alert_ids(spark, payments)
    assert {r for r, _ in expected} >= {"velocity", "card_testing", "impossible_travel"}
    assert streamed == expected


def test_resend_and_conflict_are_told_apart() -> None:
    state = UserState()
    assert settle(state, "tx1", "a", 1_000, 60_000) == "new"
    assert settle(state, "tx1", "a", 1_000, 60_000) == "resend"
    assert settle(state, "tx1", "b", 2_000, 60_000) == "conflict"


def test_merchant_judging_equals_the_batch_rule(spark) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    from lakehouse.keyed_rules import MERCHANT_RULE_FUNCTIONS, elevated_ticket_eur

    rule = load_rules()["compromised_merchant"]
    rules = {"compromised_merchant": rule}
    tickets = elevated_ticket_eur(rule)
    mcc = sorted(tickets)[0]
    rng = random.Random(4)
    rows, clock = [], 0
    for n in range(600):
        clock += rng.choice([5_000, 20_000, 60_000, 400_000])
        amount = tickets[mcc] * Decimal(rng.choice(["0.5", "1.0", "1.5"]))
        rows.append((f"tx{n}", f"u{n % 40}", f"c{rng.randrange(12)}", f"m{rng.randrange(3)}",
                     amount.quantize(Decimal("0.01")), clock))
    frame = spark.createDataFrame(
        [(tx, user, card, merchant, amount, mcc, START + timedelta(milliseconds=ms), "pos",
          0.0, 0.0, "x") for tx, user, card, merchant, amount, ms in rows],
        "transaction_id string, user_id string, card_id string, merchant_id string, "
        "amount_eur decimal(18,2), merchant_category string, event_time timestamp, "
        "channel string, lat double, lon double, city string").withColumn(
        "event_date", F.to_date("event_time"))
    expected = {r["transaction_id"] for r in evaluate_rules(frame, rules, F.current_timestamp())
                .collect()}
    states: dict[str, UserState] = {}
    streamed = set()
    arrival = sorted(rows, key=lambda r: r[5] + rng.choice([0, 0, 300_000]))
    for start in range(0, len(arrival), 25):
        by_merchant: dict[str, list[Payment]] = {}
        for tx, user, card, merchant, amount, ms in arrival[start:start + 25]:
            if amount < tickets[mcc]:
                continue  # only elevated tickets reach the merchant state
            by_merchant.setdefault(merchant, []).append(
                Payment(ms, tx, amount, merchant, "", 0.0, 0.0, "", card, user))
        for merchant, arrived in by_merchant.items():
            state = states.setdefault(merchant, UserState())
            hits = judge(state, arrived, rules, horizon_ms(rules) + 300_000,
                         MERCHANT_RULE_FUNCTIONS)
            streamed |= {hit.payment.transaction_id for hit in hits}
    assert expected and streamed == expected
