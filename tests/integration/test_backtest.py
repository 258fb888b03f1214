"""`paystream backtest` on real Spark and Delta over an imported labelled history: its figures
equal an independent DuckDB count, a candidate rule set differs exactly by the rule it changes,
and the HTML report renders its charts in Chromium."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse.history_files import parse_mapping
from lakehouse.rules import RULES_PATH, load_rules
from lakehouse.settings import Settings, load_settings
from spark_jobs.backtest import run_backtest
from spark_jobs.history_import import ImportRequest, run_import
from tests.conftest import run_cli
from tests.integration.history_files import (
    LOCATION_MAP,
    history_rows,
    history_start,
    write_csv,
)

pytestmark = pytest.mark.integration

EVENTS = 4_000
THRESHOLD = "5000.00"
CANDIDATE_THRESHOLD = "2500.00"


@dataclass
class History:
    """A lake holding one imported labelled history, and its date range."""

    settings: Settings
    lake: Path
    first: date
    last: date
    candidate_rules: Path


@pytest.fixture(scope="module")
def history(live_services: Settings, spark, tmp_path_factory: pytest.TempPathFactory) -> History:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    folder = tmp_path_factory.mktemp("backtest")
    start = history_start(days_ago=45)
    path = write_csv(folder / "history.csv", history_rows(EVENTS, start, seed=9, fraud_rate=0.08))
    settings = load_settings(lake_root=folder / "lake")
    run_import(spark, settings, ImportRequest(path, parse_mapping(LOCATION_MAP), "fraud",
                                              "scenario", chunk_rows=EVENTS,
                                              label_delay_days=30))
    silver = spark.read.format("delta").load(str(folder / "lake" / "silver" / "transactions"))
    first, last = silver.agg(F.min("event_date"), F.max("event_date")).collect()[0]
    document = yaml.safe_load(RULES_PATH.read_text())
    assert document["rules"]["high_amount"]["params"]["threshold_eur"] == THRESHOLD
    document["rules"]["high_amount"]["params"]["threshold_eur"] = CANDIDATE_THRESHOLD
    candidate = folder / "candidate.yaml"
    candidate.write_text(yaml.safe_dump(document))
    return History(settings, folder / "lake", first, last, candidate)


def _duckdb(history: History, sql: str) -> list[Any]:
    from lakehouse.sql_shell import connect_lake

    conn = connect_lake(history.settings, ["silver.transactions", "gold.labels"])
    try:
        return list(conn.execute(sql).fetchall())
    finally:
        conn.close()


def test_backtest_figures_equal_an_independent_duckdb_count(history: History, spark) -> None:  # type: ignore[no-untyped-def]
    report = run_backtest(spark, history.settings, load_rules(), history.first, history.last)
    (payments, frauds, fraud_eur), = _duckdb(history, """
        SELECT count(*), count(*) FILTER (WHERE l.label = 'fraud'),
               sum(s.amount_eur) FILTER (WHERE l.label = 'fraud')
        FROM silver_transactions s LEFT JOIN gold_labels l USING (transaction_id)""")
    assert (report.payments, report.frauds, report.fraud_eur) == (payments, frauds, fraud_eur)
    assert frauds > 0
    # high_amount, recomputed from its definition: amount_eur above the threshold.
    (alerts, true_positives, alerted_eur, caught_eur), = _duckdb(history, f"""
        SELECT count(*), count(*) FILTER (WHERE l.label = 'fraud'), sum(s.amount_eur),
               coalesce(sum(s.amount_eur) FILTER (WHERE l.label = 'fraud'), 0)
        FROM silver_transactions s LEFT JOIN gold_labels l USING (transaction_id)
        WHERE s.amount_eur > {THRESHOLD}""")
    high = next(s for s in report.rules if s.rule_id == "high_amount")
    assert alerts > 0
    assert (high.alerts, high.true_positives, high.false_positives) == (
        alerts, true_positives, alerts - true_positives)
    assert (high.alerted_eur, high.fraud_eur_caught) == (alerted_eur, Decimal(caught_eur))
    assert high.precision == pytest.approx(true_positives / alerts)
    assert high.recall == pytest.approx(true_positives / frauds)
    assert high.alerts_per_day == round(alerts / ((history.last - history.first).days + 1), 2)
    per_scenario = dict(_duckdb(history, """
        SELECT scenario, count(*) FROM gold_labels l JOIN silver_transactions s
        USING (transaction_id) WHERE l.label = 'fraud' GROUP BY 1"""))
    assert {s.scenario: s.frauds for s in report.scenarios} == per_scenario
    assert report.overall.true_positives == sum(s.caught for s in report.scenarios)


def test_compare_differs_exactly_by_the_changed_rule_and_the_report_renders(
    history: History,
) -> None:
    from playwright.sync_api import sync_playwright

    page = history.lake.parent / "report.html"
    result = run_cli("backtest", "--compare", str(history.candidate_rules), "--sweep",
                     f"high_amount.threshold_eur={CANDIDATE_THRESHOLD},{THRESHOLD}",
                     "--html", str(page), "--format", "json",
                     env={"PAYSTREAM_LAKE_ROOT": str(history.lake)}, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)
    base = {rule["rule_id"]: rule for rule in document["rules"]}
    candidate = {rule["rule_id"]: rule for rule in document["compare"]["candidate"]["rules"]}
    assert base.keys() == candidate.keys()
    assert {rule for rule in base if base[rule] != candidate[rule]} == {"high_amount"}
    lower, higher = candidate["high_amount"], base["high_amount"]
    assert lower["alerts"] > higher["alerts"] and lower["recall"] >= higher["recall"]
    assert document["compare"]["added"] == lower["alerts"] - higher["alerts"]
    assert document["compare"]["dropped"] == 0
    sweep = [point["alerts"] for point in document["sweep"]["points"]]
    assert sweep == [lower["alerts"], higher["alerts"]]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            view = browser.new_page(viewport={"width": 1200, "height": 1600})
            view.goto(page.resolve().as_uri())
            view.wait_for_selector("figure svg")
            captions = view.locator("figcaption").all_inner_texts()
            assert captions == ["Alerts per day per rule", "Precision and recall per rule",
                                "Sweep of high_amount.threshold_eur"]
            assert view.locator("figure svg path, figure svg rect").count() > 20
            artifacts = history.settings.home / "artifacts"
            artifacts.mkdir(parents=True, exist_ok=True)
            view.screenshot(path=str(artifacts / "backtest-report.png"), full_page=True)
        finally:
            browser.close()


def test_a_chargeback_file_relabels_and_the_backtest_counts_it(history: History, spark) -> None:  # type: ignore[no-untyped-def]
    from spark_jobs.gold_labels import run_label_file

    before = run_backtest(spark, history.settings, load_rules(), history.first, history.last)
    (legit,) = zip(*_duckdb(history, "SELECT transaction_id FROM gold_labels "
                                     "WHERE label = 'legit' ORDER BY transaction_id LIMIT 5"),
                   strict=True)
    chargebacks = history.lake.parent / "chargebacks.csv"
    chargebacks.write_text("transaction_id,label,date\n"
                           + "".join(f"{tx},chargeback,2026-11-20\n" for tx in legit)
                           + "tx-unknown-word,maybe,2026-11-20\n,fraud,2026-11-20\n")
    summary = run_label_file(spark, history.settings, chargebacks, "chargebacks")
    assert (summary.rows, summary.fraud, summary.legit) == (7, 5, 0)
    assert summary.rejected == {"unknown_label": 1, "no_transaction_id": 1}
    after = run_backtest(spark, history.settings, load_rules(), history.first, history.last)
    assert after.frauds == before.frauds + 5
    relabelled = _duckdb(history, "SELECT DISTINCT source, scenario IS NOT NULL, "
                                  "CAST(labelled_at AS DATE) FROM gold_labels "
                                  f"WHERE transaction_id IN {tuple(legit)}")
    assert relabelled == [("chargebacks", True, date(2026, 11, 20))]


def test_tune_chooses_on_the_training_days_and_reports_on_later_ones(
        history: History, spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from spark_jobs.tuning import TuneRequest, run_tune, with_point

    # high_amount alone: each backtest is one rule over silver, no behavioural features.
    document = yaml.safe_load(RULES_PATH.read_text())
    for rule_id, entry in document["rules"].items():
        entry["enabled"] = rule_id == "high_amount"
    start = tmp_path / "high_amount_only.yaml"
    start.write_text(yaml.safe_dump(document))
    started_with = start.read_text()
    middle = history.first + (history.last - history.first) / 2
    train, test = (history.first, middle), (middle + timedelta(days=1), history.last)
    request = TuneRequest(start, train, test, (
        f"high_amount.threshold_eur=1000.00,{CANDIDATE_THRESHOLD},{THRESHOLD}",), 0.5,
        tmp_path / "tuned.yaml")
    outcome = run_tune(spark, history.settings, request)

    rules = load_rules(start)
    by_value = {c.point[0][1]: c.score for c in outcome.candidates}
    assert list(by_value) == ["1000.00", CANDIDATE_THRESHOLD, THRESHOLD]
    # The chosen figure is the backtest of its training days.
    assert outcome.chosen.score == run_backtest(
        spark, history.settings, with_point(rules, outcome.chosen.point), *train).overall
    alerts = [by_value[v].alerts for v in by_value]
    assert alerts == sorted(alerts, reverse=True) and alerts[0] > alerts[-1]
    passing = [s for s in by_value.values() if (s.precision or 0) >= 0.5]
    chosen = outcome.chosen.score
    assert (chosen.precision or 0) >= 0.5 or not passing
    assert all((s.recall or 0) <= (chosen.recall or 0) for s in passing)
    # The test period's figures come from days the choice never saw.
    assert outcome.test_current == run_backtest(spark, history.settings, rules, *test).overall
    assert outcome.test_chosen == run_backtest(
        spark, history.settings, with_point(rules, outcome.chosen.point), *test).overall
    tuned = yaml.safe_load((tmp_path / "tuned.yaml").read_text())
    document["rules"]["high_amount"]["params"]["threshold_eur"] = outcome.chosen.point[0][1]
    assert tuned == document
    assert start.read_text() == started_with  # the rules it started from are unchanged
    assert f"Test {test[0]} .. {test[1]}" in outcome.html.read_text()
