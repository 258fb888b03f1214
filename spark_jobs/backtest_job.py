"""One backtest run as the CLI and the `rule_backtest` DAG do it: score, compare, sweep, and
store the text, JSON and HTML report under `$PAYSTREAM_HOME/backtests`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.errors import PaystreamError
from lakehouse.risk import load_risk
from lakehouse.rules import load_rules
from lakehouse.settings import Settings
from spark_jobs import backtest, backtest_report
from spark_jobs.risk_model import LiveModel, live_model, load_model

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class BacktestRequest:
    """What to backtest: a rules file, a range (default all of silver), and the extras."""

    rules_file: Path
    first: date | None = None
    last: date | None = None
    compare: Path | None = None
    sweep: str | None = None
    html: Path | None = None
    model: str = "live"
    """The risk model the decisions are scored with: `live` (the champion, if any), `none`,
    or a version of gold.risk_models."""
    compare_model: str | None = None
    """Another model (same words) to score the same rules with, side by side."""


@dataclass(frozen=True)
class BacktestOutcome:
    """The report as text and JSON, and where its HTML page is."""

    text: str
    document: dict[str, Any]
    html: Path


def reports_folder(settings: Settings) -> Path:
    """Where backtest reports are stored (the dashboard lists them)."""
    return settings.home / "backtests"


def check_request(request: BacktestRequest) -> None:
    """Fail in one line on a missing rules file or a --sweep that names nothing real."""
    for path in (request.rules_file, request.compare):
        if path is not None and not path.exists():
            raise PaystreamError(f"rules file {path} does not exist")
    if request.sweep:
        target, values = backtest.parse_sweep(request.sweep)
        backtest.with_param(load_rules(request.rules_file), target, values[0])
    if request.first and request.last and request.first > request.last:
        raise PaystreamError(f"--from {request.first} is after --to {request.last}")
    for flag, word in (("--model", request.model), ("--compare-model", request.compare_model)):
        if word is not None and word not in ("live", "none") and not word.isdigit():
            raise PaystreamError(f"{flag} {word}: write live, none or a version number")
    if request.compare is not None and request.compare_model is not None:
        raise PaystreamError("--compare and --compare-model: choose one")


def resolve_model(spark: SparkSession, settings: Settings, word: str) -> LiveModel | None:
    """The model a --model word names: the champion (`live`, None without one), none, or a
    registered version."""
    if word == "none":
        return None
    if word == "live":
        return live_model(spark, settings)
    return load_model(spark, settings, int(word))


def model_words(model: LiveModel | None, first: date, last: date) -> str:
    """How a report names the model its decisions used, warning when the model was trained on
    days of the range (pure)."""
    if model is None:
        return "decisions by the rules alone (no risk model)"
    told = f"decisions with risk model version {model.version}"
    if model.train_from and model.train_to:
        told += f" (trained on {model.train_from} .. {model.train_to}"
        inside = model.train_from <= last and first <= model.train_to
        told += ": IN-SAMPLE, it learned from days of this range)" if inside else ")"
    return told


def run_backtest_job(spark: SparkSession, settings: Settings, request: BacktestRequest,
                     say: Callable[[str], None] = lambda _: None) -> BacktestOutcome:
    """Run the backtest the request asks for and store its reports."""
    check_request(request)
    rules = load_rules(request.rules_file)
    first, last = backtest.silver_range(spark, settings)
    first, last = request.first or first, request.last or last
    say(f"backtesting {request.rules_file.name} over {first} .. {last}")
    risk = load_risk(request.rules_file)
    model = resolve_model(spark, settings, request.model)
    report = backtest.run_backtest(spark, settings, rules, first, last, risk, model)
    text = backtest_report.format_report(report) + "\n" + model_words(model, first, last)
    extra: dict[str, Any] = {"model_version": model.version if model else None}
    if request.compare_model is not None:
        other = resolve_model(spark, settings, request.compare_model)
        say(f"backtesting the same rules with model {request.compare_model}")
        candidate = backtest.run_backtest(spark, settings, rules, first, last, risk, other)
        text += ("\n\n" + backtest_report.format_comparison(report, candidate, None, None) + "\n"
                 + "candidate: " + model_words(other, first, last))
        extra["compare"] = {"model_version": other.version if other else None,
                            "candidate": candidate.as_json()}
    if request.compare is not None:
        say(f"backtesting the candidate {request.compare.name}")
        candidate_rules = load_rules(request.compare)
        candidate = backtest.run_backtest(spark, settings, candidate_rules, first, last,
                                          load_risk(request.compare), model)
        base_ids = backtest.alert_ids(spark, settings, rules, first, last)
        other_ids = backtest.alert_ids(spark, settings, candidate_rules, first, last)
        added, dropped = len(other_ids - base_ids), len(base_ids - other_ids)
        text += "\n\n" + backtest_report.format_comparison(report, candidate, added, dropped)
        extra["compare"] = {"rules_file": str(request.compare), "added": added,
                            "dropped": dropped, "candidate": candidate.as_json()}
    sweep = None
    if request.sweep:
        target, values = backtest.parse_sweep(request.sweep)
        rule_id = target.split(".")[0]
        points = []
        for value in values:
            say(f"sweep {target} = {value}")
            swept = backtest.run_backtest(spark, settings,
                                          backtest.with_param(rules, target, value), first, last)
            points.append((value, next(s for s in swept.rules if s.rule_id == rule_id)))
        text += "\n\n" + backtest_report.format_sweep(target, points)
        sweep = (target, points)
        extra["sweep"] = {"target": target, "points": [
            {"value": v, "alerts": s.alerts, "precision": s.precision, "recall": s.recall}
            for v, s in points]}
    folder = reports_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    page = request.html or folder / f"backtest-{stamp}.html"
    page.write_text(backtest_report.html_report(report, str(request.rules_file), text, sweep))
    document = {**report.as_json(), "rules_file": str(request.rules_file), **extra,
                "html": str(page), "made_at": stamp}
    page.with_suffix(".json").write_text(json.dumps(document, indent=2))
    return BacktestOutcome(text, document, page)
