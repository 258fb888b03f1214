"""`paystream sql`: DuckDB over the Delta tables, each registered under its SQL name.

Tables are read through delta-rs (`deltalake`, a Python wheel), so DuckDB needs
no extension and nothing is downloaded at run time: extension auto-install and
auto-load are switched off, and a query that would need one fails with
DuckDB's own error instead of reaching for the network.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from lakehouse.catalog import TABLES, Catalog
from lakehouse.errors import PaystreamError
from lakehouse.settings import Settings

FORMATS = ("table", "csv", "json")


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of one query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


def tables_named_in(sql: str) -> list[str]:
    """The lake tables whose SQL name a query mentions (pure)."""
    import re

    words = set(re.findall(r"[a-z0-9_]+", sql.lower()))
    return [table for table in TABLES if table.replace(".", "_") in words]


def connect_lake(settings: Settings, tables: Sequence[str] = TABLES) -> Any:
    """A DuckDB connection with the existing Delta tables among `tables` registered as views."""
    import duckdb
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    conn = duckdb.connect(config={"autoinstall_known_extensions": False,
                                  "autoload_known_extensions": False})
    conn.execute("SET TimeZone = 'UTC'")
    catalog = Catalog(settings.lake)
    for table in tables:
        try:
            dataset = DeltaTable(catalog.table(table)).to_pyarrow_dataset()
        except TableNotFoundError:
            continue
        conn.register(catalog.sql_name(table), dataset)
    return conn


def run_query(conn: Any, sql: str) -> QueryResult:
    """Run one statement; DuckDB's error becomes a one-line PaystreamError."""
    import duckdb

    try:
        relation = conn.execute(sql)
        columns = [d[0] for d in relation.description or []]
        rows = relation.fetchall() if columns else []
    except duckdb.Error as error:
        raise PaystreamError(" ".join(str(error).split())) from error
    return QueryResult(columns, rows)


def _text(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def format_result(result: QueryResult, fmt: str) -> str:
    """The result as an aligned table, CSV or JSON lines (one object per row)."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([[_text(v) if v is not None else "" for v in row]
                          for row in result.rows])
        return out.getvalue().rstrip("\n")
    if fmt == "json":
        return "\n".join(json.dumps(dict(zip(result.columns, _jsonable(list(row)), strict=True)))
                         for row in result.rows)
    return aligned_table(result.columns, [[_text(v) for v in row] for row in result.rows])


def aligned_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned text table with a header rule and a row count."""
    if not columns:
        return "(no result)"
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]
    count = f"({len(rows)} row{'s' if len(rows) != 1 else ''})"
    return "\n".join([line.rstrip(), rule, *body, count])


def interactive(conn: Any, fmt: str) -> None:
    """A prompt: statements end with `;`; `.tables` lists tables; `.quit` or Ctrl-D leaves."""
    import contextlib

    with contextlib.suppress(ImportError):
        import readline  # noqa: F401 - line editing and history for input()
    print("paystream sql (DuckDB over the Delta tables). End statements with ';'. "
          ".tables lists them, .quit leaves.")
    buffer: list[str] = []
    while True:
        try:
            line = input("sql> " if not buffer else "...> ")
        except EOFError:
            print()
            return
        stripped = line.strip()
        if not buffer and stripped in (".quit", ".exit", "quit", "exit"):
            return
        if not buffer and stripped == ".tables":
            print(format_result(run_query(conn, "SHOW TABLES"), fmt))
            continue
        buffer.append(line)
        if not stripped.endswith(";"):
            continue
        statement, buffer = "\n".join(buffer), []
        try:
            print(format_result(run_query(conn, statement), fmt))
        except PaystreamError as error:
            print(f"error: {error}")
