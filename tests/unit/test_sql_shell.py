"""The `paystream sql` output formats (pure)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from lakehouse.sql_shell import QueryResult, format_result

RESULT = QueryResult(["rule_id", "alerts", "eur", "day"], [
    ("high_amount", 12, Decimal("6001.50"), date(2026, 11, 28)),
    ("velocity", 3, None, date(2026, 11, 29)),
])


def test_table_is_aligned_with_a_row_count() -> None:
    lines = format_result(RESULT, "table").splitlines()
    assert lines[0].split() == ["rule_id", "alerts", "eur", "day"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].index("12") == lines[0].index("alerts")
    assert lines[3].split()[2] == "NULL"
    assert lines[-1] == "(2 rows)"


def test_csv_and_json_keep_money_exact() -> None:
    assert format_result(RESULT, "csv").splitlines() == [
        "rule_id,alerts,eur,day", "high_amount,12,6001.50,2026-11-28", "velocity,3,,2026-11-29"]
    rows = [json.loads(line) for line in format_result(RESULT, "json").splitlines()]
    assert rows[0] == {"rule_id": "high_amount", "alerts": 12, "eur": "6001.50",
                       "day": "2026-11-28"}
    assert rows[1]["eur"] is None


def test_the_lake_connection_never_fetches_extensions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from lakehouse.errors import PaystreamError
    from lakehouse.settings import load_settings
    from lakehouse.sql_shell import connect_lake, run_query

    conn = connect_lake(load_settings(lake_root=tmp_path))
    settings = run_query(conn, "SELECT current_setting('autoinstall_known_extensions'), "
                               "current_setting('autoload_known_extensions')").rows[0]
    assert settings == (False, False)
    with pytest.raises(PaystreamError, match="gold_alerts"):
        run_query(conn, "SELECT * FROM gold_alerts")


def test_tables_named_in_a_query() -> None:
    from lakehouse.sql_shell import tables_named_in

    assert tables_named_in("SELECT * FROM gold_alerts a JOIN silver_transactions s USING "
                           "(transaction_id)") == ["silver.transactions", "gold.alerts"]
    assert tables_named_in("SELECT 1") == []


def _alerts_table(path, rows: int) -> None:  # type: ignore[no-untyped-def]
    from benchmarks.sql import write_alerts_table

    write_alerts_table(path, rows, date(2026, 11, 1))


def _plan_nodes(nodes: list[dict]) -> list[dict]:
    """Every node of a DuckDB JSON plan, depth first."""
    return [n for node in nodes for n in [node, *_plan_nodes(node.get("children", []))]]


def test_parquet_views_answer_like_delta_rs_and_prune_partitions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import duckdb
    from deltalake import DeltaTable

    from lakehouse.catalog import Catalog
    from lakehouse.settings import load_settings
    from lakehouse.sql_shell import connect_lake

    lake = tmp_path / "lake"
    _alerts_table(Catalog(lake).table("gold.alerts"), 5_000)
    ours = connect_lake(load_settings(lake_root=lake), ["gold.alerts"])
    reference = duckdb.connect()
    reference.register("gold_alerts", DeltaTable(Catalog(lake).table("gold.alerts"))
                       .to_pyarrow_dataset())
    for sql in ("SELECT * FROM gold_alerts ORDER BY alert_id",
                "SELECT rule_id, count(*), sum(amount_eur) FROM gold_alerts GROUP BY 1 ORDER BY 1",
                "SELECT event_date, count(*) FROM gold_alerts WHERE event_date = DATE "
                "'2026-11-10' GROUP BY 1"):
        assert ours.execute(sql).fetchall() == reference.execute(sql).fetchall(), sql
    columns = [d[0] for d in ours.execute("SELECT * FROM gold_alerts LIMIT 0").description]
    assert columns == [f.name for f in DeltaTable(Catalog(lake).table("gold.alerts"))
                       .schema().fields]
    files = len(DeltaTable(Catalog(lake).table("gold.alerts")).file_uris())
    # sum, not count(*): DuckDB may answer a count over a partition filter from the Parquet
    # footers alone (a COLUMN_DATA_SCAN, no file scan in the plan: seen once in the suite).
    (_, plan), = ours.execute("EXPLAIN (FORMAT json) SELECT sum(amount_eur) FROM gold_alerts "
                              "WHERE event_date = DATE '2026-11-10'").fetchall()
    scans = [node["extra_info"] for node in _plan_nodes(json.loads(plan))
             if node["name"] == "READ_PARQUET"]
    assert [scan["Scanning Files"] for scan in scans] == [f"1/{files}"], plan


def test_a_table_without_files_is_an_empty_typed_view(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from lakehouse.catalog import Catalog
    from lakehouse.settings import load_settings
    from lakehouse.sql_shell import connect_lake, empty_view_sql

    lake = tmp_path / "lake"
    path = Catalog(lake).table("gold.alerts")
    _alerts_table(path, 10)
    from deltalake import DeltaTable

    DeltaTable(path).delete()  # every file removed from the snapshot
    conn = connect_lake(load_settings(lake_root=lake), ["gold.alerts"])
    relation = conn.execute("SELECT * FROM gold_alerts")
    assert relation.fetchall() == []
    types = [d[1] for d in relation.description]
    assert types[4:6] == ["DECIMAL(18,2)", "TIMESTAMP WITH TIME ZONE"]
    assert empty_view_sql("t", [("a", "array")]) is None
