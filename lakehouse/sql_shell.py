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


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parquet_view_sql(name: str, columns: Sequence[str], files: Sequence[str]) -> str:
    """A DuckDB view over a Delta snapshot's Parquet files, in the table's column order
    (pure). Hive-style partition folders give the partition columns, so DuckDB prunes
    files on them and pushes filters into its own Parquet reader."""
    listed = ", ".join(_sql_string(f) for f in files)
    selected = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    return (f'CREATE VIEW "{name}" AS SELECT {selected} FROM read_parquet([{listed}], '
            "hive_partitioning = true, union_by_name = true)")


DUCKDB_TYPES = {
    "string": "VARCHAR", "long": "BIGINT", "integer": "INTEGER", "short": "SMALLINT",
    "byte": "TINYINT", "float": "FLOAT", "double": "DOUBLE", "boolean": "BOOLEAN",
    "binary": "BLOB", "date": "DATE", "timestamp": "TIMESTAMPTZ", "timestamp_ntz": "TIMESTAMP",
}


def duckdb_type(delta_type: str) -> str | None:
    """The DuckDB type of a primitive Delta type name, None for one it does not map (pure)."""
    if delta_type.startswith("decimal("):
        return delta_type.upper()
    return DUCKDB_TYPES.get(delta_type)


def empty_view_sql(name: str, columns: Sequence[tuple[str, str]]) -> str | None:
    """A typed, empty DuckDB view for a Delta table without files (pure); None when a column
    is not a primitive type."""
    typed = [(column, duckdb_type(kind)) for column, kind in columns]
    if any(kind is None for _, kind in typed):
        return None
    selected = ", ".join(f'NULL::{kind} AS "' + column.replace('"', '""') + '"'
                         for column, kind in typed)
    return f'CREATE VIEW "{name}" AS SELECT {selected} WHERE false'


def _register(conn: Any, name: str, path: str,
              storage_options: dict[str, str] | None = None) -> bool:
    """Register one Delta table as a view; False when there is no table at the path.

    A remote table (storage options given) is read through delta-rs: DuckDB would need its
    network extensions, which it cannot download offline.
    """
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(path, storage_options=storage_options or None)
    except TableNotFoundError:
        return False
    files = table.file_uris()
    fields = table.schema().fields
    # Reader version 1 means plain Parquet files: no deletion vectors, no column mapping.
    plain = table.protocol().min_reader_version == 1 and not storage_options
    empty = None if files else empty_view_sql(
        name, [(f.name, str(getattr(f.type, "type", ""))) for f in fields])
    if plain and files:
        conn.execute(parquet_view_sql(name, [f.name for f in fields], files))
    elif plain and empty is not None:
        conn.execute(empty)
    else:  # features or types only delta-rs reads correctly (it needs pyarrow: slower start)
        conn.register(name, table.to_pyarrow_dataset())
    return True


def connect_lake(settings: Settings, tables: Sequence[str] = TABLES) -> Any:
    """A DuckDB connection with the existing Delta tables among `tables` registered as views."""
    import duckdb

    conn = duckdb.connect(config={"autoinstall_known_extensions": False,
                                  "autoload_known_extensions": False})
    conn.execute("SET TimeZone = 'UTC'")
    from lakehouse.cloud_storage import delta_storage_options

    catalog = Catalog(settings.lake_location)
    options = delta_storage_options(settings)
    for table in tables:
        _register(conn, catalog.sql_name(table), catalog.table(table), options)
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
