"""The stateful query's behaviour (Java profiles, labels, behavioural rules, risk decisions)
equals the batch (lakehouse.behaviour, lakehouse.rules, spark_jobs.risk_decisions).

Forty days of payments stream in day by day, with each day's newly known fraud labels on the
`labels` source in the same micro-batch; every decision (score, band, fired rules, amount
ratio, features) and every behavioural alert must equal what the batch computes over the
same payments and labels.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from lakehouse.behaviour import TerminalWindow, with_features
from lakehouse.risk import load_risk
from lakehouse.rules import BEHAVIOUR_RULES, RULES_PATH, evaluate_rules, load_rules
from spark_jobs.pipeline import KAFKA_SOURCE_SCHEMA
from spark_jobs.risk_decisions import decide_payments

START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 40
LATENESS_S = 1800
AMOUNTS = ("4.10", "19.99", "42.00", "61.50", "380.00", "6100.00")
FACTORS = {"5411": 0.8657, "5814": 0.2309, "5732": 2.5}
"""Learned-like category factors (5732's cold-start default is 5.3866): the stream's and the
batch's features must both use the ones they are given."""


def _rules():  # type: ignore[no-untyped-def]
    from dataclasses import replace

    rules = load_rules()
    rules["amount_vs_profile"] = replace(rules["amount_vs_profile"], enabled=True, params={
        "multiple": 3.0, "min_history": 4, "min_amount_eur": "20.00"})
    rules["risky_terminal"] = replace(rules["risky_terminal"], enabled=True, params={
        "window_days": 6, "min_frauds": 2, "min_fraud_rate": 0.2, "fade_days": 1})
    return rules


def _payments() -> list[dict]:
    """In order of event time: six users, four merchants, a few large amounts."""
    rng = random.Random(21)
    moments = sorted(rng.randrange(DAYS * 86_400_000) for _ in range(900))
    out = []
    for n, ms in enumerate(moments):
        moment = START + timedelta(milliseconds=ms)
        user = f"u{rng.randrange(6)}"
        amounts = AMOUNTS if n % 50 == 0 else AMOUNTS[:-1]  # now and then a high_amount
        out.append({"schema_version": 1, "transaction_id": f"tx{n:04d}", "user_id": user,
                    "card_id": f"c-{user}", "amount": rng.choice(amounts),
                    "currency": "EUR", "merchant_id": f"m{rng.randrange(4)}",
                    "merchant_category": rng.choice(["5411", "5814", "5732"]),
                    "timestamp": moment.isoformat(timespec="milliseconds")[:23] + "Z",
                    "location": {"country": "DE", "city": "Berlin", "lat": 52.52, "lon": 13.40},
                    "channel": "pos"})
    return out


def _labels(payments: list[dict]) -> list[dict]:
    """Most payments at m1 until day 28 turn out fraud (then its terminal fades), each label 1
    to 6 days after the payment."""
    rng = random.Random(22)
    out = []
    for p in payments:
        if p["merchant_id"] == "m1" and _day(p["timestamp"]) < 28 and rng.random() < 0.8:
            moment = datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00"))
            out.append({"transaction_id": p["transaction_id"], "label": "fraud",
                        "merchant_id": "m1", "event_time": p["timestamp"],
                        "labelled_at": (moment + timedelta(days=rng.uniform(1, 6))).isoformat()})
    return out


def _day(text: str) -> int:
    return (datetime.fromisoformat(text.replace("Z", "+00:00")) - START).days


def _stream(spark, payments: list[dict], labels: list[dict], folder: Path, model):  # type: ignore[no-untyped-def]
    """Run the stateful query's rows over the days, scored by `model` as the pipeline does,
    returning its decisions (the processor's own score, band and contributions kept as
    java_*) and alerts."""
    from pyspark.sql import functions as F

    from spark_jobs.stateful_alerts import keyed_rows, scored_by_model

    sources = {name: folder / name for name in ("transactions", "labels")}
    for path in sources.values():
        path.mkdir(parents=True)
    staging = folder / "staging"
    streams = {name: spark.readStream.schema(KAFKA_SOURCE_SCHEMA).parquet(str(path))
               for name, path in sources.items()}
    name = f"behaviour_{uuid.uuid4().hex[:8]}"
    rows = keyed_rows(streams["transactions"], _rules(), LATENESS_S, load_risk(RULES_PATH),
                      streams["labels"], factors=FACTORS)
    rows = scored_by_model(rows.withColumns({
        "java_risk_score": F.col("risk_score"), "java_decision": F.col("decision"),
        "java_contributions": F.col("contributions")}), model, load_risk(RULES_PATH))
    query = (rows.writeStream.format("memory").queryName(name).outputMode("update")
             .option("checkpointLocation", str(folder / "checkpoint")).start())
    offsets = {0: 0, 1: 0}
    written = 0

    def land(topic: str, records: list[tuple]) -> None:
        nonlocal written
        frame = spark.createDataFrame(records, KAFKA_SOURCE_SCHEMA)
        frame.coalesce(1).write.parquet(str(staging / str(written)))
        part = next((staging / str(written)).glob("part-*.parquet"))
        part.rename(sources[topic] / f"batch-{written:04d}.parquet")
        written += 1

    try:
        for day in range(DAYS):
            known = [lab for lab in labels if _day(lab["labelled_at"]) == day - 1]
            if known:
                land("labels", [(lab["transaction_id"].encode(), json.dumps(lab).encode(),
                                 "labels", 0, i, START, 0, []) for i, lab in enumerate(known)])
            records = []
            for p in (p for p in payments if _day(p["timestamp"]) == day):
                partition = int(p["user_id"][1:]) % 2
                received = datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00"))
                records.append((p["user_id"].encode(), json.dumps(p).encode(), "transactions",
                                partition, offsets[partition], received + timedelta(seconds=1),
                                0, []))
                offsets[partition] += 1
            if records:
                land("transactions", records)
            query.processAllAvailable()
        return spark.table(name).collect()
    finally:
        query.stop()


def _batch(spark, payments: list[dict], labels: list[dict]):  # type: ignore[no-untyped-def]
    """The batch's decisions and alerts over the same payments and labels, a model trained on
    them (every label) and the batch's decisions scored by it."""
    from pyspark.sql import functions as F

    from spark_jobs.risk_decisions import decision_inputs
    from spark_jobs.risk_model import LiveModel, with_model_features
    from spark_jobs.risk_model_training import fit

    rules, risk = _rules(), load_risk(RULES_PATH)
    frame = spark.createDataFrame(
        [(p["transaction_id"], p["user_id"], p["card_id"], Decimal(p["amount"]), p["merchant_id"],
          p["merchant_category"], datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00")),
          p["channel"], 52.52, 13.40, "Berlin") for p in payments],
        "transaction_id string, user_id string, card_id string, amount_eur decimal(18,2), "
        "merchant_id string, merchant_category string, event_time timestamp, channel string, "
        "lat double, lon double, city string").withColumn("event_date", F.to_date("event_time"))
    label_frame = spark.createDataFrame(
        [(lab["transaction_id"], lab["label"], None, datetime.fromisoformat(lab["labelled_at"]))
         for lab in labels],
        "transaction_id string, label string, scenario string, labelled_at timestamp")
    featured = with_features(frame, frame, label_frame, TerminalWindow.of(rules),
                             FACTORS).persist()
    plain = {k: r for k, r in rules.items() if k not in BEHAVIOUR_RULES}
    behavioural = {k: r for k, r in rules.items() if k in BEHAVIOUR_RULES}
    alerts = evaluate_rules(frame, plain, F.current_timestamp()).unionByName(
        evaluate_rules(featured, behavioural, F.current_timestamp()))
    decisions = decide_payments(featured, alerts, rules, risk).collect()
    fraud = {lab["transaction_id"] for lab in labels}
    is_fraud = F.col("transaction_id").isin(sorted(fraud))
    training = with_model_features(decision_inputs(featured, alerts, rules, risk)).withColumns(
        {"label": is_fraud.cast("double"), "weight": F.lit(1.0)})
    model = LiveModel(7, 0.6, fit(training, trees=8))
    scored = decide_payments(featured, alerts, rules, risk, model).collect()
    return (decisions, alerts.collect(), {r["transaction_id"]: r for r in featured.collect()},
            model, scored)


@pytest.fixture(scope="module")
def both(spark, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    payments = _payments()
    labels = _labels(payments)
    batch = _batch(spark, payments, labels)
    streamed = _stream(spark, payments, labels, tmp_path_factory.mktemp("behaviour"), batch[3])
    return streamed, batch


def test_every_decision_equals_the_batch_decision(both) -> None:  # type: ignore[no-untyped-def]
    streamed, (decisions, _, featured, _, _) = both
    stream = {r["transaction_id"]: r for r in streamed if r["kind"] == "decision"}
    assert len(stream) == len(decisions) == 900
    assert {d["decision"] for d in decisions} >= {"approve", "review", "block"}
    for d in decisions:
        s = stream[d["transaction_id"]]
        assert s["java_risk_score"] == pytest.approx(d["risk_score"], abs=1e-4), d[
            "transaction_id"]
        assert (s["java_decision"], json.loads(s["fired"])) == (d["decision"], list(d["fired"]))
        assert s["amount_vs_profile_ratio"] == pytest.approx(d["amount_vs_profile_ratio"])
        assert [c["name"] for c in json.loads(s["java_contributions"])] == [
            c["name"] for c in d["contributions"]]
        features, row = json.loads(s["details"]), featured[d["transaction_id"]]
        for name in ("user_payments_30d", "user_payments_7d", "merchant_payments_7d",
                     "terminal_payments", "terminal_frauds", "terminal_days_since_fraud"):
            assert features[name] == row[name], (d["transaction_id"], name)
        for name in ("user_mean_eur_30d", "user_max_eur_7d", "user_baseline_eur",
                     "user_expected_eur"):
            assert (features[name] and Decimal(features[name])) == row[name], (
                d["transaction_id"], name)
        assert features["seconds_since_previous"] == pytest.approx(row["seconds_since_previous"])
        for name in ("terminal_fraud_rate", "terminal_label_lag_days"):
            assert features[name] == row[name], (d["transaction_id"], name)
        assert features["terminal_fraud_rate"] is not None


def test_the_models_decisions_in_the_stream_equal_the_batchs(both) -> None:  # type: ignore[no-untyped-def]
    streamed, (rules_only, _, _, model, scored) = both
    stream = {r["transaction_id"]: r for r in streamed if r["kind"] == "decision"}
    assert len(scored) == 900
    before = {d["transaction_id"]: d["decision"] for d in rules_only}
    changed = 0
    for d in scored:
        s = stream[d["transaction_id"]]
        assert (s["model_version"], d["model_version"]) == (model.version, model.version)
        assert s["model_score"] == d["model_score"], d["transaction_id"]
        assert (s["risk_score"], s["decision"]) == (d["risk_score"], d["decision"])
        assert json.loads(s["contributions"]) == [c.asDict() for c in d["contributions"]]
        assert json.loads(s["model_reasons"]) == [r.asDict() for r in d["model_reasons"]]
        changed += d["decision"] != before[d["transaction_id"]]
    assert changed > 0, "the model changed no decision: the test proves nothing"
    assert any(c["name"] == "model" for d in scored for c in d["contributions"])
    assert all(r["kind"] == "decision" or r["model_version"] is None for r in streamed)


def test_behavioural_alerts_equal_the_batch_alerts(both) -> None:  # type: ignore[no-untyped-def]
    streamed, (_, alerts, _, _, _) = both
    stream = {(r["rule_id"], r["transaction_id"], r["details"]) for r in streamed
              if r["kind"] == "alert" and r["rule_id"] in BEHAVIOUR_RULES}
    batch = {(a["rule_id"], a["transaction_id"], a["details"]) for a in alerts
             if a["rule_id"] in BEHAVIOUR_RULES}
    assert {rule for rule, _, _ in batch} == set(BEHAVIOUR_RULES)
    assert stream == batch
