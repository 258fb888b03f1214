"""The two behavioural scenarios and the labelled history they are measured on (pure)."""

from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lakehouse.event_contract import parse_event_time
from producer.generator import (
    BEHAVIOUR_SCENARIOS,
    SCENARIOS,
    GeneratorOptions,
    PaymentStream,
    amount_eur_of,
)
from producer.history import COLUMNS, LabelDelay, write_history
from producer.population import MEAN_TICKET_EUR
from producer.rule_params import load_scenario_params
from tests.conftest import run_cli

START = datetime(2026, 9, 1, tzinfo=UTC)


def behaviour_options(**overrides: object) -> GeneratorOptions:
    """A small seeded population with the behavioural scenarios (the history tests' too)."""
    base: dict[str, object] = {
        "seed": 3, "fraud_rate": 0.02, "start": START, "step_seconds": 30.0, "n_users": 1_500,
        "n_merchants": 300, "scenarios": BEHAVIOUR_SCENARIOS, "params": load_scenario_params()}
    return GeneratorOptions(**{**base, **overrides})  # type: ignore[arg-type]


def test_the_default_mix_leaves_the_behavioural_scenarios_out() -> None:
    assert GeneratorOptions().scenarios == SCENARIOS
    assert not set(BEHAVIOUR_SCENARIOS) & set(SCENARIOS)


def test_a_compromised_terminal_turns_every_payment_there_into_fraud_for_weeks() -> None:
    records = [r for r, _ in zip(PaymentStream(behaviour_options()), range(60_000), strict=False)]
    by_merchant: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for record in records:
        event = json.loads(record.value)
        by_merchant[event["merchant_id"]].append(
            (parse_event_time(event["timestamp"]), record.scenario))
    breached = {m: seen for m, seen in by_merchant.items()
                if any(s == "compromised_terminal" for _, s in seen)}
    assert 1 <= len(breached) <= 3 * 300 // 100  # at most 1 % at once, a few in turn
    for seen in breached.values():
        frauds = [t for t, s in seen if s == "compromised_terminal"]
        first, last = min(frauds), max(frauds)
        between = [s for t, s in seen if first <= t <= last]
        assert set(between) <= {"compromised_terminal", "compromised_customer"}
        assert last - first < timedelta(days=42)
    spans = [max(t for t, s in seen if s == "compromised_terminal")
             - min(t for t, s in seen if s == "compromised_terminal") for seen in breached.values()]
    assert max(spans) > timedelta(days=7)


def test_a_compromised_customer_spends_several_times_the_usual() -> None:
    records = [r for r, _ in zip(PaymentStream(behaviour_options()), range(60_000), strict=False)]
    groups: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        if record.scenario == "compromised_customer":
            headers = dict(record.headers)
            groups[headers["scenario_id"].decode()].append(json.loads(record.value))
    end = max(parse_event_time(json.loads(r.value)["timestamp"]) for r in records)
    complete = [events for events in groups.values()
                if parse_event_time(events[0]["timestamp"]) < end - timedelta(days=6)]
    assert len(complete) > 10
    for events in complete:
        assert 3 <= len(events) <= 8 and len({e["user_id"] for e in events}) == 1
        times = sorted(parse_event_time(e["timestamp"]) for e in events)
        assert times[-1] - times[0] <= timedelta(days=6)
    amounts = [float(amount_eur_of(e)) for events in groups.values() for e in events]
    assert statistics.median(amounts) > 5 * MEAN_TICKET_EUR * 0.8  # spend factors vary


def test_the_history_keeps_the_truth_out_of_the_payments_and_delays_the_chargebacks(
        tmp_path: Path) -> None:
    delay = LabelDelay(min_days=1.0, mean_days=3.0, max_days=30.0)
    summary = write_history(tmp_path / "h.csv", tmp_path / "cb.csv",
                            behaviour_options(scenarios=SCENARIOS + BEHAVIOUR_SCENARIOS),
                            20_000, delay)
    with open(tmp_path / "h.csv") as handle:
        payments = list(csv.DictReader(handle))
    with open(tmp_path / "cb.csv") as handle:
        chargebacks = list(csv.DictReader(handle))
    assert len(payments) == summary.payments == 20_000
    assert "fraud" not in payments[0] and set(payments[0]) == set(COLUMNS) - {"fraud"}
    assert len(chargebacks) == summary.frauds == sum(p["scenario"] != "legit" for p in payments)
    when = {p["transaction_id"]: parse_event_time(p["timestamp"]) for p in payments}
    delays = [(datetime.fromisoformat(c["date"]) - when[c["transaction_id"]]).total_seconds()
              / 86_400 for c in chargebacks]
    assert min(delays) >= 1.0 and max(delays) <= 30.0
    assert statistics.mean(delays) == pytest.approx(4.0, abs=0.6)
    assert {c["label"] for c in chargebacks} == {"fraud"}


@pytest.mark.parametrize(("args", "message"), [
    (["history", "x.csv", "--days", "0"], "--days must be positive"),
    (["history", "x.csv", "--scenarios", "mugging"], "unknown scenarios: mugging"),
    (["label"], "name a label FILE or --dispositions"),
    (["label", "x.csv", "--dispositions"], "name a label FILE or --dispositions"),
])
def test_bad_history_and_label_flags_are_one_line(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode != 0
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
