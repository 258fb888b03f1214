"""Which event dates a lake batch's activity MERGE reads: every date its payments span."""

from datetime import UTC, date, datetime

from spark_jobs.gold_alerts import dates_between


def test_a_batch_within_one_day_reads_that_day() -> None:
    assert dates_between(datetime(2026, 12, 5, 0, 1, tzinfo=UTC),
                         datetime(2026, 12, 5, 23, 59, tzinfo=UTC)) == [date(2026, 12, 5)]


def test_a_batch_across_midnights_reads_each_day_between() -> None:
    assert dates_between(datetime(2026, 12, 30, 23, 59, tzinfo=UTC),
                         datetime(2027, 1, 1, 0, 1, tzinfo=UTC)) == [
        date(2026, 12, 30), date(2026, 12, 31), date(2027, 1, 1)]
