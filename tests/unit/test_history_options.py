"""`paystream history`'s harder options, each on a small seeded generation (pure): a long-tailed
label delay, frauds never reported, varied breach and clone intensity; and the defaults still
write the same bytes as before them."""

from __future__ import annotations

import csv
import hashlib
import json
import random
import statistics
from collections import defaultdict
from datetime import datetime
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
from producer.history import UNREPORTED_DATE, LabelDelay, write_history
from producer.population import MEAN_TICKET_EUR
from tests.conftest import run_cli
from tests.unit.test_behaviour_scenarios import behaviour_options


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_default_history_is_byte_for_byte_what_it_was(tmp_path: Path) -> None:
    # Digests of the files main's generator wrote before these options existed.
    summary = write_history(tmp_path / "h.csv", tmp_path / "cb.csv",
                            behaviour_options(scenarios=SCENARIOS + BEHAVIOUR_SCENARIOS), 20_000)
    assert (summary.payments, summary.frauds, summary.unreported) == (20_000, 441, 0)
    assert _sha(tmp_path / "h.csv") == (
        "440d489a92da78627b9ca16973475248a2b42fc30b39b131b2436e260d3354d3")
    assert _sha(tmp_path / "cb.csv") == (
        "e1bedcd5c9ffce8e018006bc2903c20b499b318c85de1dfa276aafe4956610d2")
    assert not (tmp_path / "h-unreported.csv").exists()


def test_a_lognormal_delay_has_the_asked_mean_a_long_tail_and_its_cap() -> None:
    rng = random.Random(5)
    delay = LabelDelay(mean_days=7.0, max_days=120.0, shape="lognormal")
    days = [delay.draw(rng).total_seconds() / 86_400 for _ in range(20_000)]
    assert statistics.mean(days) == pytest.approx(7.0, rel=0.05)
    assert statistics.median(days) < 0.7 * 7.0          # most come early ...
    assert sum(d > 14.0 for d in days) / len(days) > 0.08  # ... a tenth after twice the mean
    assert min(days) > 0 and max(days) <= 120.0
    capped = LabelDelay(mean_days=30.0, max_days=40.0, shape="lognormal")
    assert max(capped.draw(rng).total_seconds() / 86_400 for _ in range(2_000)) == 40.0


def test_the_history_s_chargebacks_follow_the_lognormal_delay(tmp_path: Path) -> None:
    delay = LabelDelay(mean_days=15.0, max_days=120.0, shape="lognormal")
    summary = write_history(tmp_path / "h.csv", tmp_path / "cb.csv", behaviour_options(),
                            20_000, delay)
    when = {p["transaction_id"]: parse_event_time(p["timestamp"])
            for p in _rows(tmp_path / "h.csv")}
    late = [(datetime.fromisoformat(c["date"]) - when[c["transaction_id"]]).total_seconds()
            / 86_400 for c in _rows(tmp_path / "cb.csv")]
    assert len(late) == summary.frauds > 300
    assert statistics.mean(late) == pytest.approx(15.0, rel=0.15)
    assert statistics.median(late) < 12.0 and max(late) > 45.0


def test_unreported_frauds_get_no_chargeback_and_their_truth_is_dated_2999(
        tmp_path: Path) -> None:
    full = write_history(tmp_path / "a.csv", tmp_path / "a-cb.csv", behaviour_options(), 20_000)
    summary = write_history(tmp_path / "h.csv", tmp_path / "cb.csv", behaviour_options(), 20_000,
                            unreported_share=0.25, unreported_path=tmp_path / "truth.csv")
    reported, truth = _rows(tmp_path / "cb.csv"), _rows(tmp_path / "truth.csv")
    assert summary.frauds == full.frauds == len(reported) + len(truth)
    assert summary.unreported == len(truth)
    assert len(truth) / summary.frauds == pytest.approx(0.25, abs=0.05)
    assert {t["date"] for t in truth} == {UNREPORTED_DATE} == {"2999-12-31"}
    assert {t["label"] for t in truth} == {"fraud"} and all(t["scenario"] for t in truth)
    # The reported ones keep the dates they have without the option; the payments are the same.
    everyone = {c["transaction_id"]: c for c in _rows(tmp_path / "a-cb.csv")}
    assert all(everyone[c["transaction_id"]] == c for c in reported)
    assert {t["transaction_id"] for t in truth} == set(everyone) - {
        c["transaction_id"] for c in reported}
    assert _sha(tmp_path / "a.csv") == _sha(tmp_path / "h.csv")
    with pytest.raises(ValueError, match="between 0 and 1"):
        write_history(tmp_path / "x.csv", tmp_path / "x-cb.csv", behaviour_options(), 10,
                      unreported_share=1.5, unreported_path=tmp_path / "x-t.csv")


def _breaches(options: GeneratorOptions, count: int) -> dict[str, tuple[int, int]]:
    """Per breach (scenario_id): its frauds and all payments at its terminal while it ran."""
    seen = []
    for record, _ in zip(PaymentStream(options), range(count), strict=False):
        event = json.loads(record.value)
        key = (dict(record.headers)["scenario_id"].decode()
               if record.scenario == "compromised_terminal" else None)
        seen.append((event["merchant_id"], parse_event_time(event["timestamp"]),
                     record.scenario, key))
    spans: dict[str, list] = {}
    for merchant, moment, _, key in seen:
        if key is not None:
            span = spans.setdefault(key, [merchant, moment, moment])
            span[1], span[2] = min(span[1], moment), max(span[2], moment)
    by_merchant: dict[str, list] = defaultdict(list)
    for merchant, moment, scenario, _ in seen:
        if scenario in ("legit", "compromised_terminal"):
            by_merchant[merchant].append((moment, scenario))
    out = {}
    for key, (merchant, first, last) in spans.items():
        there = [scenario for moment, scenario in by_merchant[merchant] if first <= moment <= last]
        out[key] = (there.count("compromised_terminal"), len(there))
    return out


def test_varied_intensity_makes_a_breached_terminal_part_fraud_drawn_per_breach() -> None:
    terminals_only = {"scenarios": ("compromised_terminal",), "step_seconds": 120.0}
    plain = _breaches(behaviour_options(**terminals_only), 40_000)
    assert plain and all(frauds == total for frauds, total in plain.values())
    varied = _breaches(behaviour_options(**terminals_only, varied_intensity=True), 40_000)
    shares = [frauds / total for frauds, total in varied.values() if total >= 50]
    assert len(shares) >= 4
    assert all(0.1 <= s <= 1.0 for s in shares)
    assert min(shares) < 0.6 and max(shares) - min(shares) > 0.3  # drawn per breach


def test_varied_intensity_gives_each_cloned_card_its_own_multiple_of_3_to_12() -> None:
    options = behaviour_options(scenarios=("compromised_customer",), varied_intensity=True)
    stream = PaymentStream(options)
    cards: dict[str, list[float]] = defaultdict(list)
    high = float(options.params.high_amount_eur) * 0.9
    for record, _ in zip(stream, range(40_000), strict=False):
        if record.scenario == "compromised_customer":
            event = json.loads(record.value)
            user = stream.population.user(int(event["user_id"].split("-")[-1]))
            assert user.user_id == event["user_id"]
            eur = float(amount_eur_of(event))
            if eur < high * 0.98:
                cards[dict(record.headers)["scenario_id"].decode()].append(
                    eur / (MEAN_TICKET_EUR * user.spend_factor))
    multiples = {k: v for k, v in cards.items() if len(v) >= 2}
    assert len(multiples) >= 10
    for ratios in multiples.values():
        assert min(ratios) >= 3 * 0.9 - 0.05 and max(ratios) <= 12 * 1.1 + 0.05
        assert max(ratios) / min(ratios) <= 1.1 / 0.9 + 0.01      # one multiple per card
    means = [statistics.mean(v) for v in multiples.values()]
    assert min(means) < 5 and max(means) > 9                      # wider than the default 5-12


def test_the_history_command_writes_the_unreported_file_and_checks_its_flags(
        tmp_path: Path) -> None:
    ok = run_cli("history", str(tmp_path / "h.csv"), "--days", "2", "--per-day", "500",
                 "--users", "300", "--merchants", "60", "--start", "2026-09-01",
                 "--scenarios", "compromised_terminal,compromised_customer", "--fraud-rate",
                 "0.05", "--label-delay-shape", "lognormal", "--label-delay-days", "7",
                 "--label-delay-max", "60", "--unreported-share", "0.5", "--varied-intensity")
    assert ok.returncode == 0, ok.stderr
    truth = _rows(tmp_path / "h-unreported.csv")
    assert truth and {t["date"] for t in truth} == {"2999-12-31"}
    assert "paystream label" in ok.stdout and "h-unreported.csv --source truth" in ok.stdout
    for flags, said in ((["--unreported-share", "2"], "not between 0 and 1"),
                        (["--label-delay-shape", "weibull"], "invalid choice"),
                        (["--label-delay-max", "0"], "--label-delay-max must be positive")):
        bad = run_cli("history", str(tmp_path / "x.csv"), *flags)
        assert bad.returncode != 0 and said in bad.stderr, bad.stderr
