"""`paystream tune`'s pure parts: the periods it accepts, the grid, the objective, the file."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from lakehouse.errors import PaystreamError
from lakehouse.rules import RULES_PATH, load_rules
from spark_jobs.backtest import RuleScore
from spark_jobs.tuning import (
    MAX_CANDIDATES,
    Candidate,
    TuneRequest,
    candidate_rules_text,
    check_request,
    choose,
    grid_points,
)

TRAIN = (date(2026, 10, 1), date(2026, 10, 31))
TEST = (date(2026, 11, 1), date(2026, 11, 30))


def _request(tmp_path: Path, **changes: object) -> TuneRequest:
    values: dict[str, object] = {
        "rules_file": RULES_PATH, "train": TRAIN, "test": TEST,
        "grids": ("high_amount.threshold_eur=2500.00,5000.00",), "min_precision": 0.7,
        "out": tmp_path / "candidate.yaml"}
    values.update(changes)
    return TuneRequest(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("changes, message", [
    ({"test": (date(2026, 10, 31), date(2026, 11, 30))}, "must start after the training"),
    ({"train": (date(2026, 10, 31), date(2026, 10, 1))}, "--train-to 2026-10-01 is before"),
    ({"grids": ()}, "at least one --grid"),
    ({"min_precision": 1.5}, "not between 0 and 1"),
    ({"out": RULES_PATH}, "never the rules the stream reads"),
])
def test_tune_refuses_in_one_line(tmp_path: Path, changes: dict[str, object],
                                  message: str) -> None:
    with pytest.raises(PaystreamError, match=message):
        check_request(_request(tmp_path, **changes), RULES_PATH)


def test_the_grid_is_every_combination_of_checked_values() -> None:
    rules = load_rules()
    points = grid_points(rules, ("high_amount.threshold_eur=2500.00,5000.00",
                                 "velocity.max_payments=3,4,5"))
    assert len(points) == 6
    assert points[0] == (("high_amount.threshold_eur", "2500.00"), ("velocity.max_payments", "3"))
    with pytest.raises(PaystreamError, match="is not a int"):
        grid_points(rules, ("velocity.max_payments=three",))
    with pytest.raises(PaystreamError, match="a different rule.param"):
        grid_points(rules, ("velocity.max_payments=3", "velocity.max_payments=4"))
    many = ",".join(str(n) for n in range(MAX_CANDIDATES + 1))
    with pytest.raises(PaystreamError, match="keep it to 64 or fewer"):
        grid_points(rules, (f"velocity.max_payments={many}",))


def _candidate(value: str, precision: float | None, recall: float | None) -> Candidate:
    score = RuleScore("overall", 10, 1.0, 5, 5, precision, recall, Decimal(0), Decimal(0))
    return Candidate((("high_amount.threshold_eur", value),), score)


def test_the_objective_is_the_highest_recall_at_the_precision_floor() -> None:
    strict, loose, looser = (_candidate("9000", 0.95, 0.40), _candidate("5000", 0.75, 0.60),
                             _candidate("1000", 0.50, 0.90))
    assert choose([strict, loose, looser], 0.7) is loose
    assert choose([strict, loose, looser], 0.4) is looser
    # Nothing reaches the floor: the most precise one.
    assert choose([loose, looser], 0.99) is loose
    # A tie in recall goes to the more precise, then to the earlier candidate.
    same = _candidate("4000", 0.80, 0.60)
    assert choose([loose, same], 0.7) is same
    assert choose([same, _candidate("4100", 0.80, 0.60)], 0.7) is same
    assert choose([_candidate("1", None, None), strict], 0.7) is strict


def test_the_candidate_file_changes_only_the_chosen_parameters() -> None:
    rules = load_rules()
    text = candidate_rules_text(RULES_PATH.read_text(), rules, (
        ("high_amount.threshold_eur", "2500.00"), ("velocity.max_payments", "7")),
        "Chosen by a test.\nSecond line.")
    assert text.startswith("# Chosen by a test.\n# Second line.\n")
    tuned, original = yaml.safe_load(text), yaml.safe_load(RULES_PATH.read_text())
    assert tuned["rules"]["high_amount"]["params"]["threshold_eur"] == "2500.00"
    assert tuned["rules"]["velocity"]["params"]["max_payments"] == 7
    original["rules"]["high_amount"]["params"]["threshold_eur"] = "2500.00"
    original["rules"]["velocity"]["params"]["max_payments"] = 7
    assert tuned == original


def test_the_report_shows_both_periods_and_marks_the_choice(tmp_path: Path) -> None:
    from spark_jobs.tuning import TuneOutcome, format_outcome, html_outcome

    strict, loose = _candidate("9000", 0.95, 0.40), _candidate("5000", 0.75, 0.60)
    request = _request(tmp_path)
    outcome = TuneOutcome([strict, loose], loose, strict.score, loose.score,
                          tmp_path / "candidate.yaml")
    text = format_outcome(outcome, request)
    assert "Training 2026-10-01 .. 2026-10-31" in text
    assert "Test 2026-11-01 .. 2026-11-30, never used to choose" in text
    assert "* high_amount.threshold_eur=5000" in text
    assert "  high_amount.threshold_eur=9000" in text and "current rules" in text
    assert outcome.html == tmp_path / "candidate.html"
    page = html_outcome(outcome, request)
    assert page.startswith("<!doctype html>") and "Test 2026-11-01 .. 2026-11-30" in page
