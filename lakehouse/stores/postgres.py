"""PostgreSQL connections: one place opens them, with a one-line error naming the server."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
