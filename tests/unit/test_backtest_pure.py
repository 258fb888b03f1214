"""The pure parts of import and backtest: labels, reference times, chunks, scores, sweeps."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from lakehouse.errors import PaystreamError
from lakehouse.history_files import chunks
from lakehouse.rules import load_rules
from spark_jobs.backtest import BacktestReport, parse_sweep, ratio, score, with_param
from spark_jobs.backtest_report import format_report, format_sweep, table
from spark_jobs.gold_labels import earliest_known
from spark_jobs.history_import import (
    ImportRequest,
    Label,
    is_fraud,
    kafka_shaped,
    label_timing_error,
    reference_time,
)

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.mark.parametrize(("cell", "fraud"), [("1", True), ("TRUE", True), (" fraud ", True),
                                             ("yes", True), ("0", False), ("", False),
                                             ("legit", False), (None, False), (1, True)])
def test_is_fraud(cell: object, fraud: bool) -> None:
    assert is_fraud(cell) is fraud


def test_reference_time_is_the_event_time_unless_later_than_now_or_unreadable() -> None:
    assert reference_time({"timestamp": "2018-04-01T10:00:00Z"}, NOW) == datetime(
        2018, 4, 1, 10, tzinfo=UTC)
    assert reference_time({"timestamp": "2099-01-01T00:00:00Z"}, NOW) == NOW
    assert reference_time({"timestamp": "not a time"}, NOW) == NOW
    assert reference_time({}, NOW) == NOW


def test_chunks_never_hold_more_than_their_size() -> None:
    assert [len(c) for c in chunks(iter([{"n": i} for i in range(7)]), 3)] == [3, 3, 1]
    assert list(chunks(iter([]), 3)) == []


def test_rows_become_kafka_shaped_records_with_labels_out_of_the_payload() -> None:
    rows = [{"transaction_id": "t1", "user_id": "u1", "amount": "12.5", "is_fraud": "1",
             "kind": "card_testing", "timestamp": "2018-04-01T10:00:00Z"},
            {"transaction_id": "t2", "user_id": "u2", "amount": "3", "is_fraud": "0",
             "timestamp": "2018-04-01T11:00:00Z"}]
    request = ImportRequest(Path("h.csv"), {}, label_column="is_fraud", scenario_column="kind",
                            label_delay_days=7)
    records, labels = kafka_shaped(rows, request, 100, "import:h.csv", NOW)
    assert [(r[2], r[3], r[4]) for r in records] == [("import:h.csv", -1, 100),
                                                     ("import:h.csv", -1, 101)]
    first = json.loads(records[0][1])
    assert first["amount"] == "12.50" and "is_fraud" not in first and "kind" not in first
    assert records[0][0] == b"u1" and records[0][5] == datetime(2018, 4, 1, 10, tzinfo=UTC)
    assert ("scenario", b"card_testing") in records[0][6]
    week = timedelta(days=7)
    assert labels == [Label("t1", "fraud", "card_testing", datetime(2018, 4, 1, 10, tzinfo=UTC)
                            + week),
                      Label("t2", "legit", None, datetime(2018, 4, 1, 11, tzinfo=UTC) + week)]


def test_an_imported_label_has_a_known_at_time_and_the_import_never_guesses_it() -> None:
    path = Path("h.csv")
    assert "never guessed" in str(label_timing_error(ImportRequest(path, label_column="f")))
    assert "not both" in str(label_timing_error(ImportRequest(
        path, label_column="f", labelled_at_column="d", label_delay_days=3)))
    assert "needs --label-column" in str(label_timing_error(ImportRequest(
        path, label_delay_days=3)))
    assert "0 or more" in str(label_timing_error(ImportRequest(
        path, label_column="f", label_delay_days=-1)))
    assert label_timing_error(ImportRequest(path)) is None
    assert label_timing_error(ImportRequest(path, label_column="f", label_delay_days=0)) is None
    rows = [{"transaction_id": "t1", "user_id": "u1", "amount": "5", "f": "1",
             "known": "2018-05-02", "timestamp": "2018-04-01T10:00:00Z"}]
    request = ImportRequest(path, {}, label_column="f", labelled_at_column="known")
    records, labels = kafka_shaped(rows, request, 0, "import:h.csv", NOW)
    assert labels[0].labelled_at == datetime(2018, 5, 2, tzinfo=UTC)
    assert "known" not in json.loads(records[0][1])  # the time column is not payload
    with pytest.raises(PaystreamError, match="row 1: known 'soon' is not a date"):
        kafka_shaped([dict(rows[0], known="soon")], request, 0, "import:h.csv", NOW)


def test_the_same_verdict_keeps_the_earliest_time_it_was_known() -> None:
    early, late = datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 9, tzinfo=UTC)
    kept = earliest_known([Label("t", "fraud", None, late), Label("t", "fraud", "s", early),
                           Label("t", "fraud", None, late), Label("u", "fraud", None, early),
                           Label("u", "legit", None, late)])
    assert kept == {"t": Label("t", "fraud", "s", early), "u": Label("u", "legit", None, late)}


def test_scores_and_ratios() -> None:
    assert ratio(1, 0) is None and ratio(1, 4) == 0.25
    s = score("high_amount", 10, 4, Decimal("100"), Decimal("40"), 8, 4)
    assert (s.false_positives, s.precision, s.recall, s.alerts_per_day) == (6, 0.4, 0.5, 2.5)
    empty = score("velocity", 0, 0, Decimal(0), Decimal(0), 0, 1)
    assert empty.precision is None and empty.recall is None


def test_sweep_keeps_each_parameter_type_and_names_mistakes() -> None:
    rules = load_rules()
    assert parse_sweep("high_amount.threshold_eur=2500.00, 9000") == (
        "high_amount.threshold_eur", ["2500.00", "9000"])
    swept = with_param(rules, "high_amount.threshold_eur", "2500.00")
    assert swept["high_amount"].params["threshold_eur"] == "2500.00"
    assert rules["high_amount"].params["threshold_eur"] == "5000.00"  # the original is kept
    counted = next((rid, p) for rid, r in rules.items() for p, v in r.params.items()
                   if isinstance(v, int) and not isinstance(v, bool))
    assert with_param(rules, f"{counted[0]}.{counted[1]}", "7")[counted[0]].params[
        counted[1]] == 7
    with pytest.raises(PaystreamError, match="has no parameter"):
        with_param(rules, "high_amount.nope", "1")
    with pytest.raises(PaystreamError, match="name a rule"):
        with_param(rules, "nope.threshold_eur", "1")
    with pytest.raises(PaystreamError, match="rule.param=v1,v2"):
        parse_sweep("high_amount.threshold_eur")


def test_the_report_reads_as_a_table() -> None:
    rule = score("high_amount", 3, 2, Decimal("9000"), Decimal("7000"), 4, 2)
    report = BacktestReport(date(2026, 10, 1), date(2026, 10, 2), 100, 4, Decimal("8000"),
                            [rule], score("(any rule)", 3, 2, Decimal("9000"), Decimal("7000"),
                                          4, 2))
    text = format_report(report)
    assert "2 days): 100 payments, 4 labelled fraud (8,000.00 EUR)" in text
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line}
    assert rows["high_amount"] == ["3", "1.5", "2", "1", "66.7%", "50.0%", "9,000.00",
                                   "7,000.00"]
    assert format_sweep("high_amount.threshold_eur", [("9000", rule)]).splitlines()[1].split() \
        == ["9000", "3", "66.7%", "50.0%"]
    assert table([("a", "1")], ("x", "y")) == "x  y\na  1"


@pytest.mark.parametrize(("cell", "word"), [("chargeback", "fraud"), ("FRAUD", "fraud"),
                                            ("false_positive", "legit"), ("0", "legit"),
                                            ("maybe", None), ("", None)])
def test_label_words(cell: str, word: str | None) -> None:
    from spark_jobs.gold_labels import label_word

    assert label_word(cell) == word


def test_label_dates_are_utc() -> None:
    from spark_jobs.gold_labels import labelled_at

    assert labelled_at("2026-11-20") == datetime(2026, 11, 20, tzinfo=UTC)
    assert labelled_at("2026-11-20T10:00:00+01:00") == datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert labelled_at(date(2026, 11, 20)) == datetime(2026, 11, 20, tzinfo=UTC)
    assert labelled_at("") is None and labelled_at("soon") is None


def test_a_label_file_without_its_time_column_or_with_an_unreadable_time_is_refused(
        tmp_path: Path) -> None:
    from lakehouse.settings import load_settings
    from spark_jobs.gold_labels import run_label_file

    settings = load_settings(lake_root=tmp_path / "lake")
    undated = tmp_path / "undated.csv"
    undated.write_text("transaction_id,label\nt1,fraud\n")
    # Both refusals come before anything is merged, so no Spark session is needed.
    with pytest.raises(PaystreamError, match="has no 'date' column"):
        run_label_file(None, settings, undated, "test")  # type: ignore[arg-type]
    unreadable = tmp_path / "unreadable.csv"
    unreadable.write_text("transaction_id,label,confirmed\nt1,fraud,last week\n")
    with pytest.raises(PaystreamError, match="row 1: confirmed 'last week' is not a date"):
        run_label_file(None, settings, unreadable, "test",  # type: ignore[arg-type]
                       time_column="confirmed")
