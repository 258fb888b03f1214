"""Each table declared once: product code names tables through lakehouse.tables only."""

from __future__ import annotations

import re
from pathlib import Path

from lakehouse import tables
from lakehouse.catalog import TABLES, Catalog

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("lakehouse", "spark_jobs", "producer", "expectations", "dashboard", "dags",
           "paystream", "benchmarks")


def test_the_catalog_knows_exactly_the_declared_tables(tmp_path: Path) -> None:
    assert tuple(table.name for table in tables.TABLES) == TABLES
    catalog = Catalog(tmp_path)
    assert catalog.table(tables.SILVER_TRANSACTIONS) == str(tmp_path / "silver" / "transactions")
    assert catalog.table(tables.GOLD_ALERTS) == catalog.table("gold.alerts")
    assert Catalog("abfss://lake@acct.dfs.core.windows.net/root").table(
        tables.GOLD_LABELS) == "abfss://lake@acct.dfs.core.windows.net/root/gold/labels"
    assert tables.GOLD_USER_ACTIVITY_1M.sql_name == "gold_user_activity_1m"


def test_no_product_module_spells_a_table_name_outside_the_declarations() -> None:
    names = "|".join(re.escape(table) for table in TABLES)
    quoted = re.compile(rf"""["']({names})["']""")
    found = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
             for package in PRODUCT for path in sorted((REPO / package).rglob("*.py"))
             if path != REPO / "lakehouse" / "tables.py"
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if quoted.search(line)]
    assert not found, "\n".join(found)


def test_every_table_declares_its_partition_columns_and_existing_writer_modules() -> None:
    for table in tables.TABLES:
        for column in table.partition_by:
            assert f"{column} DATE" in table.schema, table
        for writer in table.writers:
            assert (REPO / (writer.replace(".", "/") + ".py")).is_file(), (table, writer)
    assert tables.GOLD_ALERTS.writers == ("spark_jobs.gold_alerts",)
