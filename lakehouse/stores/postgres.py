"""PostgreSQL: connections (one place opens them, with a one-line error naming the server) and
the pure pieces of payments.transactions (its day partitions, retention and COPY rows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lakehouse.errors import PaystreamError

if TYPE_CHECKING:
    from psycopg2.extensions import connection


def connect(dsn: str, timeout_s: int = 3) -> connection:
    """A psycopg2 connection, or a one-line PaystreamError naming the server."""
    import psycopg2
    from psycopg2.extensions import parse_dsn

    try:
        return psycopg2.connect(dsn, connect_timeout=timeout_s)
    except psycopg2.Error as error:
        params = parse_dsn(dsn) if "=" in dsn or "://" in dsn else {}
        host, port = params.get("host", "localhost"), params.get("port", 5432)
        where = f"{host}:{port}/{params.get('dbname', '')}"
        reason = " ".join(str(error).split()) or type(error).__name__
        raise PaystreamError(f"cannot reach PostgreSQL at {where}: {reason}") from error


def reachable(dsn: str) -> bool:
    """True when a connection to the DSN succeeds."""
    try:
        connect(dsn, timeout_s=2).close()
        return True
    except PaystreamError:
        return False


TRANSACTION_COLUMNS = ("transaction_id", "event_date", "event_time", "user_id", "card_id",
                       "amount", "currency", "amount_eur", "merchant_id", "merchant_category",
                       "country", "city", "lat", "lon", "channel", "kafka_timestamp")
"""The columns of payments.transactions the lake writes, in silver's names and COPY order."""
TRANSACTIONS_PARTITION_PREFIX = "transactions_"
"""A day's partition of payments.transactions is `payments.transactions_YYYYMMDD`."""


def transactions_partition_ddl(day: date) -> str:
    """The statement that creates one day's partition of payments.transactions (pure)."""
    return (f"CREATE TABLE IF NOT EXISTS payments.{TRANSACTIONS_PARTITION_PREFIX}{day:%Y%m%d} "
            f"PARTITION OF payments.transactions "
            f"FOR VALUES FROM ('{day.isoformat()}') TO ('{(day + timedelta(days=1)).isoformat()}')")


def partition_day(table_name: str) -> date | None:
    """The day of a partition named `transactions_YYYYMMDD`, None for any other name (pure)."""
    digits = table_name.removeprefix(TRANSACTIONS_PARTITION_PREFIX)
    if digits == table_name or len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def retention_cutoff(today: date, retention_days: int) -> date:
    """The first day payments.transactions keeps: today and the retention_days - 1 before."""
    return today - timedelta(days=retention_days - 1)


def copy_text_row(values: Sequence[Any]) -> str:
    """One line of COPY's text format: tab-separated, \\N for NULL, backslash escapes (pure)."""
    def field(value: Any) -> str:
        if value is None:
            return "\\N"
        text = value.isoformat() if isinstance(value, (date, datetime)) else str(value)
        return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r").replace("\x00", "\ufffd"))

    return "\t".join(field(value) for value in values) + "\n"
