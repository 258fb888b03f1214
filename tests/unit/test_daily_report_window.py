"""When the daily backfill may rewrite a day's gold partitions: only once the stream is done."""

from datetime import UTC, date, datetime

import pytest

from spark_jobs.daily_report import day_is_closed


@pytest.mark.parametrize(
    ("now", "closed"),
    [
        (datetime(2026, 11, 29, 23, 59, tzinfo=UTC), False),   # the day itself
        (datetime(2026, 11, 30, 0, 29, tzinfo=UTC), False),    # late payments still arrive
        (datetime(2026, 11, 30, 0, 30, tzinfo=UTC), True),     # lateness over
        (datetime(2026, 11, 30, 1, 30, tzinfo=UTC), True),     # the DAG's scheduled run
    ],
)
def test_a_day_closes_after_its_end_plus_the_allowed_lateness(now: datetime,
                                                               closed: bool) -> None:
    assert day_is_closed(date(2026, 11, 29), now, allowed_lateness_s=1800) is closed
