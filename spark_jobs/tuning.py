"""`paystream tune`: choose rule parameters on one period, report them on a later one.

Every combination of the `--grid rule.param=v1,v2` values is backtested on the training
period; the objective picks one (the highest recall whose precision reaches the floor, the
higher precision on a tie; with none reaching it, the highest precision); then the current
rules and the chosen ones are both backtested on the test period, which must start after the
training period ends, so the figure reported was never used to choose. The chosen rules go
to a candidate rules file, never to the live one: `paystream backtest --compare` and a
review put it live.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from lakehouse.errors import PaystreamError
from lakehouse.rules import Rule, load_rules
from lakehouse.settings import Settings
from spark_jobs.backtest import RuleScore, parse_sweep, run_backtest, with_param

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MAX_CANDIDATES = 64
"""More combinations than this is refused: each is one backtest of the training period."""

Point = tuple[tuple[str, str], ...]
"""One combination of the grid: (rule.param, value) pairs, as written."""


@dataclass(frozen=True)
class TuneRequest:
    """What `paystream tune` was asked."""

    rules_file: Path
    train: tuple[date, date]
    test: tuple[date, date]
    grids: tuple[str, ...]
    min_precision: float
    out: Path


def check_request(request: TuneRequest, live_rules: Path) -> None:
    """Fail in one line on periods that overlap or run backwards, an empty grid, or an output
    that would overwrite the live rules (pure)."""
    for name, (first, last) in (("train", request.train), ("test", request.test)):
        if last < first:
            raise PaystreamError(f"--{name}-to {last} is before --{name}-from {first}")
    if request.test[0] <= request.train[1]:
        raise PaystreamError(f"the test period must start after the training period ends "
                             f"(--test-from {request.test[0]} <= --train-to {request.train[1]})")
    if not request.grids:
        raise PaystreamError("name at least one --grid rule.param=v1,v2")
    if not 0.0 <= request.min_precision <= 1.0:
        raise PaystreamError(f"--min-precision {request.min_precision} is not between 0 and 1")
    if request.out.resolve() in {request.rules_file.resolve(), live_rules.resolve()}:
        raise PaystreamError(f"--out {request.out} is a live rules file: tune writes a "
                             "candidate, never the rules the stream reads")


def grid_points(rules: dict[str, Rule], grids: tuple[str, ...]) -> list[Point]:
    """Every combination of the grids' values, each checked against the rules (pure)."""
    axes = []
    for grid in grids:
        target, values = parse_sweep(grid)
        if not values:
            raise PaystreamError(f"--grid {grid!r}: name at least one value")
        for value in values:
            with_param(rules, target, value)  # a wrong rule, parameter or type stops here
        axes.append([(target, value) for value in values])
    if len({target for target, _ in (axis[0] for axis in axes)}) < len(axes):
        raise PaystreamError("each --grid must name a different rule.param")
    points = [tuple(point) for point in itertools.product(*axes)]
    if len(points) > MAX_CANDIDATES:
        raise PaystreamError(f"{len(points)} combinations: tune backtests each on the training "
                             f"period, keep it to {MAX_CANDIDATES} or fewer")
    return points


def with_point(rules: dict[str, Rule], point: Point) -> dict[str, Rule]:
    """The rules with every (rule.param, value) of the point set (pure)."""
    for target, value in point:
        rules = with_param(rules, target, value)
    return rules


@dataclass(frozen=True)
class Candidate:
    """One combination and its overall score on the training period."""

    point: Point
    score: RuleScore


def choose(candidates: list[Candidate], min_precision: float) -> Candidate:
    """The highest recall among those with precision >= the floor (higher precision, then the
    earlier candidate, on a tie); with none reaching the floor, the highest precision (pure)."""
    def recall(c: Candidate) -> float:
        return c.score.recall or 0.0

    def precision(c: Candidate) -> float:
        return c.score.precision or 0.0

    passing = [c for c in candidates if precision(c) >= min_precision]
    if passing:
        return max(passing, key=lambda c: (recall(c), precision(c), -candidates.index(c)))
    return max(candidates, key=lambda c: (precision(c), recall(c), -candidates.index(c)))


def candidate_rules_text(rules_text: str, rules: dict[str, Rule], point: Point,
                         note: str) -> str:
    """The rules file's YAML with the point's parameters set (typed as the rules hold them),
    under a comment saying how they were chosen (pure)."""
    document = yaml.safe_load(rules_text)
    tuned = with_point(rules, point)
    for target, _ in point:
        rule_id, _, param = target.partition(".")
        document["rules"][rule_id]["params"][param] = tuned[rule_id].params[param]
    comment = "".join(f"# {line}\n" for line in note.splitlines())
    return comment + str(yaml.safe_dump(document, sort_keys=False))


@dataclass(frozen=True)
class TuneOutcome:
    """The training candidates, the chosen one, and both rule sets on the test period."""

    candidates: list[Candidate]
    chosen: Candidate
    test_current: RuleScore
    test_chosen: RuleScore
    out: Path

    @property
    def html(self) -> Path:
        """The report of both periods, beside the candidate rules file."""
        return self.out.with_suffix(".html")


def run_tune(spark: SparkSession, settings: Settings, request: TuneRequest,
             say: Callable[[str], None] = lambda _: None) -> TuneOutcome:
    """Backtest every grid point on the training period, choose one, score the current and
    chosen rules on the test period, and write the candidate rules file."""
    rules = load_rules(request.rules_file)
    points = grid_points(rules, request.grids)
    candidates = []
    for number, point in enumerate(points, 1):
        say(f"train {number}/{len(points)}: {format_point(point)}")
        report = run_backtest(spark, settings, with_point(rules, point), *request.train)
        candidates.append(Candidate(point, report.overall))
    chosen = choose(candidates, request.min_precision)
    say(f"test: the current rules and {format_point(chosen.point)}")
    current = run_backtest(spark, settings, rules, *request.test).overall
    tuned = run_backtest(spark, settings, with_point(rules, chosen.point), *request.test).overall
    note = (f"Chosen by paystream tune on {request.train[0]}..{request.train[1]} (highest "
            f"recall at precision >= {request.min_precision:g}); tested on "
            f"{request.test[0]}..{request.test[1]}: {format_score(tuned)} "
            f"(current rules {format_score(current)}).\nA candidate: review it and "
            "`paystream backtest --compare` it before it goes live.")
    request.out.parent.mkdir(parents=True, exist_ok=True)
    request.out.write_text(candidate_rules_text(request.rules_file.read_text(), rules,
                                                chosen.point, note))
    outcome = TuneOutcome(candidates, chosen, current, tuned, request.out)
    outcome.html.write_text(html_outcome(outcome, request))
    return outcome


def format_outcome(outcome: TuneOutcome, request: TuneRequest) -> str:
    """Both periods as text tables: every training candidate (the chosen one marked), then the
    current and the chosen rules on the test days (pure)."""
    from spark_jobs.backtest_report import HEADER, score_row, table

    def rows(scored: list[tuple[str, RuleScore]]) -> list[tuple[str, ...]]:
        return [(name, *score_row(score)[1:]) for name, score in scored]

    (train_from, train_to), (test_from, test_to) = request.train, request.test
    training = [(("* " if c is outcome.chosen else "  ") + format_point(c.point), c.score)
                for c in outcome.candidates]
    testing = [("current rules", outcome.test_current),
               (format_point(outcome.chosen.point), outcome.test_chosen)]
    return "\n".join([
        f"Training {train_from} .. {train_to}: every combination (* chosen: the highest "
        f"recall at precision >= {request.min_precision:g})",
        table(rows(training), ("combination", *HEADER[1:])), "",
        f"Test {test_from} .. {test_to}, never used to choose:",
        table(rows(testing), ("rules", *HEADER[1:]))])


def html_outcome(outcome: TuneOutcome, request: TuneRequest) -> str:
    """A self-contained HTML page of both periods (pure)."""
    import html

    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>Paystream tune {request.train[0]} .. {request.test[1]}</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}"
            "pre{background:#f6f8fa;padding:1rem;overflow-x:auto}</style></head><body>"
            "<h1>Rule tuning, out of time</h1>"
            f"<p>Candidate rules file: <code>{html.escape(str(outcome.out))}</code> "
            f"(started from <code>{html.escape(str(request.rules_file))}</code>).</p>"
            f"<pre>{html.escape(format_outcome(outcome, request))}</pre></body></html>")


def format_point(point: Point) -> str:
    """`rule.param=value, ...` (pure)."""
    return ", ".join(f"{target}={value}" for target, value in point)


def format_score(score: RuleScore) -> str:
    """Precision, recall and alerts in one phrase (pure)."""
    def percent(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    return (f"precision {percent(score.precision)}, recall {percent(score.recall)}, "
            f"{score.alerts:,} alerts")
