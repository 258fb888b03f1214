"""Behavioural detection measured the way the README says: a generated history of the two
behavioural scenarios, imported without its truth, chargebacks loaded days late, backtested.

Profiles need history, so the backtest scores the days after a WARM_UP_DAYS warm-up (the
features read the warm-up days). The shipped rules must reach the issue's target there
(recall and precision of at least 80 % over both scenarios), where the threshold rules alone
catch next to nothing; the decisions must route what they catch."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from lakehouse.history_files import parse_mapping
from lakehouse.risk import load_risk
from lakehouse.rules import BEHAVIOUR_RULES, RULES_PATH, load_rules
from lakehouse.settings import Settings, load_settings
from producer.generator import BEHAVIOUR_SCENARIOS, GeneratorOptions
from producer.history import LOCATION_MAP, write_history
from producer.rule_params import load_scenario_params
from spark_jobs.backtest import BacktestReport, run_backtest
from spark_jobs.gold_labels import run_label_file
from spark_jobs.history_import import ImportRequest, run_import

pytestmark = pytest.mark.integration

DAYS, WARM_UP_DAYS, PER_DAY, USERS, MERCHANTS = 45, 30, 3_000, 2_000, 400
"""The README's population (a smaller one, 1,000 users and 200 merchants, holds only two or
three breached terminals in the 15 scored days: too few to measure a rate on)."""


@dataclass
class Measured:
    """The backtest of the default rules, and of the threshold rules alone."""

    settings: Settings
    report: BacktestReport
    thresholds_only: BacktestReport


@pytest.fixture(scope="module")
def measured(live_services: Settings, spark, tmp_path_factory: pytest.TempPathFactory) -> Measured:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("behaviour")
    start = (datetime.now(UTC) - timedelta(days=DAYS + 2)).replace(
        hour=0, minute=0, second=0, microsecond=0)
    options = GeneratorOptions(seed=11, fraud_rate=0.01, start=start,
                               step_seconds=86_400 / PER_DAY, n_users=USERS, n_merchants=MERCHANTS,
                               scenarios=BEHAVIOUR_SCENARIOS, params=load_scenario_params())
    history, chargebacks = folder / "history.csv", folder / "chargebacks.csv"
    summary = write_history(history, chargebacks, options, DAYS * PER_DAY)
    settings = load_settings(lake_root=folder / "lake")
    run_import(spark, settings, ImportRequest(history, parse_mapping(LOCATION_MAP), None,
                                              "scenario", chunk_rows=DAYS * PER_DAY))
    labelled = run_label_file(spark, settings, chargebacks, "chargebacks")
    assert labelled.fraud == summary.frauds > 0
    first = (start + timedelta(days=WARM_UP_DAYS)).date()
    last = (start + timedelta(days=DAYS - 1)).date()
    rules = load_rules()
    report = run_backtest(spark, settings, rules, first, last, load_risk(RULES_PATH))
    plain = {k: replace(r, enabled=False) if k in BEHAVIOUR_RULES else r
             for k, r in rules.items()}
    return Measured(settings, report, run_backtest(spark, settings, plain, first, last))


def test_behaviour_catches_what_the_thresholds_miss(measured: Measured) -> None:
    scenarios = {s.scenario: s for s in measured.report.scenarios}
    assert set(scenarios) == set(BEHAVIOUR_SCENARIOS)
    alone = {s.scenario: s for s in measured.thresholds_only.scenarios}
    for name in BEHAVIOUR_SCENARIOS:
        assert scenarios[name].frauds > 200
        assert (alone[name].recall or 0) < 0.05, name
        assert (scenarios[name].recall or 0) > 0.6, name
    overall = measured.report.overall
    assert (overall.recall or 0) >= 0.8 and (overall.precision or 0) >= 0.8, overall
    by_rule = {s.rule_id: s for s in measured.report.rules}
    assert (by_rule["amount_vs_profile"].precision or 0) > 0.7
    assert (by_rule["risky_terminal"].precision or 0) > 0.7


def test_the_decisions_route_what_the_rules_catch(measured: Measured) -> None:
    flagged, blocked = measured.report.decisions
    overall = measured.report.overall
    assert flagged.rule_id == "decision:review+block" and blocked.rule_id == "decision:block"
    assert flagged.true_positives >= overall.true_positives
    assert 0 < blocked.alerts <= flagged.alerts
    for scenario in measured.report.scenarios:
        assert scenario.flagged is not None and scenario.flagged >= scenario.caught


def test_the_report_prints_the_decisions_per_scenario(measured: Measured) -> None:
    from spark_jobs.backtest_report import format_report

    lines = format_report(measured.report).splitlines()
    assert any(line.startswith("decision:review+block") for line in lines)
    header = next(line for line in lines if line.startswith("scenario"))
    assert header.split() == ["scenario", "frauds", "caught", "recall", "review+block", "recall"]
    for name in BEHAVIOUR_SCENARIOS:
        assert any(line.startswith(name) for line in lines)
