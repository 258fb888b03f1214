"""payments.transactions' pure pieces: day partitions, retention and COPY text rows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from lakehouse.stores.postgres import (
    copy_text_row,
    partition_day,
    retention_cutoff,
    transactions_partition_ddl,
)


def test_a_day_partition_covers_exactly_its_day() -> None:
    assert transactions_partition_ddl(date(2026, 12, 31)) == (
        "CREATE TABLE IF NOT EXISTS payments.transactions_20261231 PARTITION OF "
        "payments.transactions FOR VALUES FROM ('2026-12-31') TO ('2027-01-01')")
    assert partition_day("transactions_20261231") == date(2026, 12, 31)
    for other in ("transactions", "transactions_2026123", "transactions_20261332",
                  "alerts_20261231", "transactions_2026123x"):
        assert partition_day(other) is None, other


def test_retention_keeps_today_and_the_days_before_it() -> None:
    assert retention_cutoff(date(2026, 12, 6), 7) == date(2026, 11, 30)
    assert retention_cutoff(date(2026, 12, 6), 1) == date(2026, 12, 6)


def test_a_copy_row_escapes_what_the_text_format_would_misread() -> None:
    row = ("tx\t1", date(2026, 12, 6), datetime(2026, 12, 6, 13, 0, 5, 120000), "u\\1",
           None, Decimal("12.50"), "EU\nR", 52.5, "a\rb\x00c")
    assert copy_text_row(row) == ("tx\\t1\t2026-12-06\t2026-12-06T13:00:05.120000\tu\\\\1\t\\N\t"
                                  "12.50\tEU\\nR\t52.5\ta\\rb\ufffdc\n")
    assert copy_text_row((datetime(2026, 1, 1, tzinfo=UTC),)) == "2026-01-01T00:00:00+00:00\n"
