"""Behavioural features, the two behavioural rules and the risk score on a local Spark session,
each held equal to a brute-force Python reading of its definition over random payments."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from lakehouse.behaviour import (
    BASELINE_SKIP_DAYS,
    PROFILE_DAYS,
    TerminalWindow,
    with_features,
)
from lakehouse.errors import PaystreamError
from lakehouse.risk import RiskConfig, contributions, decide, load_risk, risk_score
from lakehouse.rules import RULES_PATH, Rule, evaluate_rules
from spark_jobs.risk_decisions import decide_payments

START = datetime(2026, 9, 1, tzinfo=UTC)
SCHEMA = ("transaction_id string, user_id string, merchant_id string, merchant_category string, "
          "amount_eur decimal(18,2), event_time timestamp, event_date date")
WINDOW = TerminalWindow(window_days=6)
BREACH_ENDS = date(2026, 9, 28)
"""m1's payments are fraud until then: its terminal fades out of risky_terminal after."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FACTORS = {"5411": 0.8657, "5814": 0.2309, "5732": 2.5}
"""Category factors other than the cold-start defaults (5732's is 5.3866 there), none for
0000: with_features must use the ones it is given, 1.0 for a category they lack."""
RULES = {
    "amount_vs_profile": Rule("amount_vs_profile", "medium", True, {
        "multiple": 3.0, "min_history": 4, "min_amount_eur": "20.00"}),
    "risky_terminal": Rule("risky_terminal", "high", True, {
        "window_days": 6, "min_frauds": 2, "min_fraud_rate": 0.2, "fade_days": 1}),
}


def _payments() -> list[dict]:
    rng = random.Random(15)
    rows = []
    for number in range(900):
        moment = START + timedelta(milliseconds=rng.randrange(40 * 86_400_000))
        rows.append({"transaction_id": f"t{number:04d}", "user_id": f"u{rng.randrange(5)}",
                     "merchant_id": f"m{rng.randrange(4)}",
                     "merchant_category": rng.choice(["5411", "5814", "5732", "0000"]),
                     "amount_eur": Decimal(rng.choice([5, 20, 40, 60, 400])) + Decimal("0.25"),
                     "event_time": moment, "event_date": moment.date()})
    return rows


def _labels(payments: list[dict]) -> list[dict]:
    """Payments at m1 are fraud until BREACH_ENDS, a few at m3 all along; each label arrives 1
    to 6 days later; a few m2 are legit."""
    rng = random.Random(16)
    labels = []
    for p in payments:
        if ((p["merchant_id"] == "m1" and p["event_date"] < BREACH_ENDS and rng.random() < 0.8)
                or (p["merchant_id"] == "m3" and rng.random() < 0.15)):
            labels.append({"transaction_id": p["transaction_id"], "label": "fraud",
                           "scenario": None, "labelled_at": p["event_time"] + timedelta(
                               days=rng.uniform(1, 6))})
        elif p["merchant_id"] == "m2" and rng.random() < 0.1:
            labels.append({"transaction_id": p["transaction_id"], "label": "legit",
                           "scenario": None, "labelled_at": p["event_time"]})
    return labels


def _ms(moment: datetime) -> int:
    """Epoch milliseconds as Spark's unix_millis takes them (microseconds dropped)."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _expected(p: dict, payments: list[dict], labels: list[dict]) -> dict:
    """Every feature of one payment, straight from the definitions in lakehouse.behaviour."""
    day: date = p["event_date"]
    out: dict = {}
    for days in PROFILE_DAYS:
        mine = [q["amount_eur"] for q in payments if q["user_id"] == p["user_id"]
                and day - timedelta(days=days) <= q["event_date"] < day]
        out[f"user_payments_{days}d"] = len(mine)
        out[f"user_mean_eur_{days}d"] = (
            (sum(mine) / len(mine)).quantize(Decimal("0.01"), ROUND_HALF_UP) if mine else None)
        out[f"user_max_eur_{days}d"] = max(mine) if mine else None
        out[f"merchant_payments_{days}d"] = sum(
            1 for q in payments if q["merchant_id"] == p["merchant_id"]
            and day - timedelta(days=days) <= q["event_date"] < day)
    before = [q["amount_eur"] for q in payments if q["user_id"] == p["user_id"]
              and day - timedelta(days=30) <= q["event_date"]
              < day - timedelta(days=BASELINE_SKIP_DAYS)]
    out["user_baseline_eur"] = ((sum(before) / len(before)).quantize(
        Decimal("0.01"), ROUND_HALF_UP) if before else None)
    earlier = [q for q in payments if q["user_id"] == p["user_id"] and (
        q["event_time"], q["transaction_id"]) < (p["event_time"], p["transaction_id"])]
    out["seconds_since_previous"] = (
        (p["event_time"] - max(q["event_time"] for q in earlier)).total_seconds()
        if earlier else None)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    known = {lab["transaction_id"]: lab["labelled_at"] for lab in labels
             if lab["label"] == "fraud" and lab["labelled_at"] < start}
    mine = [q for q in payments if q["merchant_id"] == p["merchant_id"]
            and day - timedelta(days=WINDOW.window_days) <= q["event_date"] < day]
    frauds = [q for q in mine if q["transaction_id"] in known]
    newest = max((q["event_date"] for q in frauds), default=None)
    out["terminal_frauds"] = len(frauds)
    out["terminal_payments"] = sum(1 for q in mine if newest and q["event_date"] <= newest)
    out["terminal_fraud_rate"] = (len(frauds) / out["terminal_payments"]
                                  if out["terminal_payments"] else 0.0)
    out["terminal_days_since_fraud"] = (day - newest).days if newest else None
    lag_ms = sum(_ms(known[q["transaction_id"]]) - _ms(q["event_time"]) for q in frauds)
    out["terminal_label_lag_days"] = (float(Decimal(repr(lag_ms / len(frauds) / 86_400_000.0))
                                            .quantize(Decimal("0.0001"), ROUND_HALF_UP))
                                      if frauds else None)
    out["category_factor"] = FACTORS.get(p["merchant_category"], 1.0)
    mean = (out["user_baseline_eur"] if out["user_baseline_eur"] is not None
            else out["user_mean_eur_30d"])
    out["user_expected_eur"] = (None if mean is None else (
        mean * Decimal(str(out["category_factor"]))).quantize(Decimal("0.01"), ROUND_HALF_UP))
    return out


@pytest.fixture(scope="module")
def featured(spark):  # type: ignore[no-untyped-def]
    payments, schema = _payments(), SCHEMA
    labels = _labels(payments)
    frame = spark.createDataFrame(payments, schema)
    label_frame = spark.createDataFrame(
        labels, "transaction_id string, label string, scenario string, labelled_at timestamp")
    judged = frame.where(frame.event_date >= date(2026, 9, 20))
    rows = with_features(judged, frame, label_frame, WINDOW, FACTORS).persist()
    yield payments, labels, rows
    rows.unpersist()


def test_every_feature_equals_its_definition(featured) -> None:  # type: ignore[no-untyped-def]
    payments, labels, rows = featured
    by_id = {p["transaction_id"]: p for p in payments}
    got = rows.collect()
    assert len(got) == sum(1 for p in payments if p["event_date"] >= date(2026, 9, 20))
    assert any(r["terminal_frauds"] > 0 for r in got)
    for row in got:
        expected = _expected(by_id[row["transaction_id"]], payments, labels)
        for name, value in expected.items():
            if isinstance(value, float):
                assert row[name] == pytest.approx(value), (row["transaction_id"], name)
            else:
                assert row[name] == value, (row["transaction_id"], name)


def test_behavioural_rules_flag_what_their_definitions_say(featured) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    payments, labels, rows = featured
    alerts = evaluate_rules(rows, RULES, F.current_timestamp()).collect()
    by_rule: dict[str, set[str]] = {}
    for alert in alerts:
        by_rule.setdefault(alert["rule_id"], set()).add(alert["transaction_id"])
    profile, terminal, faded = set(), set(), set()
    for p in payments:
        if p["event_date"] < date(2026, 9, 20):
            continue
        e = _expected(p, payments, labels)
        if (e["user_payments_30d"] >= 4 and p["amount_eur"] >= 20
                and p["amount_eur"] > e["user_expected_eur"] * Decimal("3.0")):
            profile.add(p["transaction_id"])
        if (e["terminal_frauds"] >= 2 and e["terminal_fraud_rate"] >= 0.2
                and e["terminal_days_since_fraud"] <= e["terminal_label_lag_days"] + 1):
            terminal.add(p["transaction_id"])
        elif e["terminal_frauds"] >= 2 and e["terminal_fraud_rate"] >= 0.2:
            faded.add(p["transaction_id"])
    assert profile and terminal and faded
    assert by_rule["amount_vs_profile"] == profile
    assert by_rule["risky_terminal"] == terminal


def test_the_spark_score_equals_the_python_score(featured) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    _, _, rows = featured
    risk = load_risk(RULES_PATH)
    alerts = evaluate_rules(rows, RULES, F.current_timestamp())
    decisions = decide_payments(rows, alerts, RULES, risk).collect()
    assert {d["decision"] for d in decisions} >= {"approve", "review"}
    for d in decisions:
        fired = list(d["fired"])
        score = risk_score(risk, fired, d["amount_vs_profile_ratio"], d["terminal_fraud_rate"])
        assert d["risk_score"] == pytest.approx(score, abs=1e-4), d["transaction_id"]
        assert d["decision"] == decide(risk, score)
        expected = contributions(risk, fired, d["amount_vs_profile_ratio"],
                                 d["terminal_fraud_rate"])[:3]
        assert [(c["name"], pytest.approx(c["value"], abs=1.5e-4))
                for c in d["contributions"]] == expected


def test_a_behavioural_rule_without_features_says_what_it_needs(spark) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    frame = spark.createDataFrame(_payments()[:3], SCHEMA)
    with pytest.raises(PaystreamError, match="amount_vs_profile needs the behavioural"):
        evaluate_rules(frame, {"amount_vs_profile": RULES["amount_vs_profile"]},
                       F.current_timestamp())


@pytest.mark.parametrize(("fired", "ratio", "rate", "expected"), [
    ([], None, None, ("approve", 0.0)),
    (["velocity"], 1.0, 0.0, ("review", 0.5)),
    (["amount_vs_profile"], 10.0, None, ("block", 0.9)),
    (["high_amount", "risky_terminal"], None, 0.5, ("block", 1.0)),
    ([], 5.5, 0.25, ("approve", 0.35)),
])
def test_scores_and_bands(fired: list[str], ratio: float | None, rate: float | None,
                          expected: tuple[str, float]) -> None:
    risk = load_risk(RULES_PATH)
    score = risk_score(risk, fired, ratio, rate)
    assert (decide(risk, score), score) == (expected[0], pytest.approx(expected[1]))


def test_a_bad_risk_section_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules: {}\nrisk:\n  bands: {review: 0.9, block: 0.5}\n")
    with pytest.raises(PaystreamError, match="review <= block"):
        load_risk(bad)
    bad.write_text("rules: {}\nrisk:\n  feature_weights: {shoe_size: 1}\n")
    with pytest.raises(PaystreamError, match="unknown features shoe_size"):
        load_risk(bad)
    bad.write_text("rules: {}\n")
    assert load_risk(bad) == RiskConfig()
