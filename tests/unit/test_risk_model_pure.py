"""The learned risk model's pure parts: periods, the validation threshold, the registry's
status changes, what a report says of the model, and the rules file's model weight."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from lakehouse.errors import PaystreamError
from lakehouse.risk import RiskConfig, parse_risk
from spark_jobs.backtest_job import BacktestRequest, check_request, model_words
from spark_jobs.risk_model import (
    CHALLENGER,
    CHAMPION,
    FIRED_FEATURES,
    MODEL_FEATURES,
    REJECTED,
    RETIRED,
    feature_column,
)
from spark_jobs.risk_model_registry import format_registry, next_version, with_status
from spark_jobs.risk_model_training import Periods, best_threshold, default_periods, f1


def test_default_periods_leave_the_newest_labels_to_mature() -> None:
    periods = default_periods(date(2026, 9, 1), date(2026, 10, 30))
    assert (periods.valid_to, periods.valid_from) == (date(2026, 10, 16), date(2026, 10, 10))
    assert (periods.train_to, periods.train_from) == (date(2026, 10, 9), date(2026, 9, 10))
    assert periods.known_at == datetime(2026, 10, 31, tzinfo=UTC)


def test_a_short_history_trains_from_its_first_day() -> None:
    periods = default_periods(date(2026, 9, 1), date(2026, 9, 30))
    assert periods.train_from == date(2026, 9, 1)
    assert periods.train_to == date(2026, 9, 9)


def test_a_history_too_short_for_any_training_is_refused() -> None:
    with pytest.raises(PaystreamError, match="too short"):
        default_periods(date(2026, 9, 1), date(2026, 9, 20))


def test_validation_must_come_after_training() -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(PaystreamError, match="must end before"):
        Periods(date(2026, 9, 1), date(2026, 9, 20), date(2026, 9, 20), date(2026, 9, 30),
                at).check()
    Periods(date(2026, 9, 1), date(2026, 9, 19), date(2026, 9, 20), date(2026, 9, 30),
            at).check()


RISK = RiskConfig(review=0.5, block=0.8, model_weight=1.0)


def test_the_threshold_is_the_one_whose_decisions_have_the_best_f1() -> None:
    # (probability, known fraud, the rules' score)
    scored = [(0.9, True, 0.0), (0.8, True, 0.0), (0.7, False, 0.0), (0.6, True, 0.0),
              (0.2, False, 0.0), (0.1, False, 0.0)]
    best = best_threshold(scored, RISK)
    # >= 0.8: P 1, R 2/3 (F1 0.8); >= 0.6: P 3/4, R 1 (F1 0.857)
    assert (best.value, best.precision, best.recall) == (0.6, 0.75, 1.0)


def test_what_the_rules_flag_already_counts_toward_the_threshold() -> None:
    # a false positive the rules flag on their own stays flagged at any threshold; a rules
    # score of 0.35 needs only 0.15 from the model: 0.3 / 0.9 x 0.5 = 0.167 at 0.9
    scored = [(0.9, True, 0.0), (0.3, True, 0.35), (0.05, False, 0.6), (0.55, False, 0.0)]
    best = best_threshold(scored, RISK)
    assert (best.value, best.recall) == (0.9, 1.0)
    assert best.precision == pytest.approx(2 / 3)


def test_no_known_fraud_gives_no_threshold() -> None:
    with pytest.raises(PaystreamError, match="no known fraud"):
        best_threshold([(0.4, False, 0.0)], RISK)


def test_f1_is_zero_without_precision_or_recall() -> None:
    assert f1(None, 0.5) == f1(0.5, 0.0) == 0.0
    assert f1(0.5, 1.0) == pytest.approx(2 / 3)


def _row(version: int, status: str) -> dict:
    return {"version": version, "status": status, "note": ""}


def test_promoting_a_challenger_retires_the_champion() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [_row(1, RETIRED), _row(2, CHAMPION), _row(3, CHALLENGER)]
    out = with_status(rows, 3, CHAMPION, at, "better", compared_precision=0.9)
    assert [r["status"] for r in out] == [RETIRED, RETIRED, CHAMPION]
    assert out[2]["compared_precision"] == 0.9 and out[1]["note"] == "replaced by version 3"
    assert next_version(out) == 4 and next_version([]) == 1


def test_rejecting_a_challenger_keeps_the_champion() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    out = with_status([_row(2, CHAMPION), _row(3, CHALLENGER)], 3, REJECTED, at, "worse")
    assert [r["status"] for r in out] == [CHAMPION, REJECTED]


def test_the_registry_table_names_each_version() -> None:
    row = SimpleNamespace(**{
        "version": 2, "status": CHAMPION, "train_from": date(2026, 9, 1),
        "train_to": date(2026, 9, 30), "valid_from": date(2026, 10, 1),
        "valid_to": date(2026, 10, 7), "threshold": 0.31, "valid_precision": 0.8,
        "valid_recall": 0.7, "compared_precision": None, "compared_recall": None,
        "champion_precision": 0.5, "champion_recall": 0.4, "note": "better"})
    text = format_registry([row.__dict__])
    assert "champion" in text and "80.0% / 70.0%" in text and "2026-10-01 .. 2026-10-07" in text
    assert "paystream model train" in format_registry([])


def test_a_report_says_when_the_model_learned_from_the_range() -> None:
    model = SimpleNamespace(version=3, train_from=date(2026, 9, 1), train_to=date(2026, 9, 30))
    inside = model_words(model, date(2026, 9, 20), date(2026, 10, 10))  # type: ignore[arg-type]
    after = model_words(model, date(2026, 10, 1), date(2026, 10, 10))  # type: ignore[arg-type]
    assert "IN-SAMPLE" in inside and "version 3" in inside
    assert "IN-SAMPLE" not in after
    assert "rules alone" in model_words(None, date(2026, 10, 1), date(2026, 10, 2))


@pytest.mark.parametrize("word", ["champion", "-1", "v2"])
def test_a_wrong_model_word_fails_in_one_line(word: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: {}\n")
    with pytest.raises(PaystreamError, match="live, none or a version"):
        check_request(BacktestRequest(rules, model=word))


def test_the_model_weight_is_read_and_checked() -> None:
    assert parse_risk({"risk": {}}, "r.yaml").model_weight == 1.0
    assert parse_risk({"risk": {"model_weight": 0.5}}, "r.yaml").model_weight == 0.5
    with pytest.raises(PaystreamError, match="model_weight"):
        parse_risk({"risk": {"model_weight": -1}}, "r.yaml")


def test_every_model_feature_has_its_own_column() -> None:
    assert len(set(MODEL_FEATURES)) == len(MODEL_FEATURES)
    assert len({feature_column(n) for n in MODEL_FEATURES}) == len(MODEL_FEATURES)
    assert "fired_risky_terminal" in FIRED_FEATURES


def test_the_model_replaces_only_parts_the_score_has() -> None:
    risk = parse_risk({"risk": {"rule_weights": {"velocity": 0.5, "risky_terminal": 0.6},
                                "feature_weights": {"terminal_fraud_rate": 0.4}}}, "r.yaml")
    kept = risk.without_replaced()
    assert kept.rule_weights == {"velocity": 0.5, "risky_terminal": 0.0}
    assert kept.feature_weights == {"terminal_fraud_rate": 0.0}
    with pytest.raises(PaystreamError, match="model_replaces names rule:nope"):
        parse_risk({"risk": {"model_replaces": ["rule:nope"]}}, "r.yaml")


def test_the_stream_logs_which_reference_changed() -> None:
    from spark_jobs.pipeline import reference_change

    assert reference_change((3, None), (4, None)) == "category factors: version 4"
    assert reference_change((4, None), (4, 2)) == "risk model: version 2"
    assert reference_change((4, 2), (4, None)) == "risk model: version (none)"
    assert reference_change((4, 1), (5, 2)) == (
        "category factors: version 5, risk model: version 2")
