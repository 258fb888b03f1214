"""`paystream import` on real Spark and Delta: history older than the age bound lands, broken
and conflicting rows are quarantined with their reasons, labels go to gold.labels, and a
second import of the same file writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lakehouse.catalog import Catalog
from lakehouse.history_files import parse_mapping
from lakehouse.settings import Settings, load_settings
from spark_jobs.history_import import ImportRequest, run_import
from tests.conftest import run_cli
from tests.integration.history_files import (
    LOCATION_MAP,
    history_rows,
    history_start,
    write_csv,
)

pytestmark = pytest.mark.integration

EVENTS = 3_000


def _count(spark, path: str, where: str = "true") -> int:  # type: ignore[no-untyped-def]
    return int(spark.read.format("delta").load(path).where(where).count())


def test_import_lands_labelled_history_once_and_quarantines_what_breaks_the_contract(
    live_services: Settings, spark, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    from pyspark.sql import functions as F

    start = history_start(days_ago=60)  # twice the stream's age bound
    rows = history_rows(EVENTS, start, seed=5)
    broken = dict(rows[10], transaction_id="tx-broken-amount", amount="twelve")
    conflicting = dict(rows[20], amount="99999.99")  # a known id with another payload
    resent = dict(rows[30])  # the same payment twice
    path = write_csv(tmp_path / "history.csv", [*rows, broken, conflicting, resent])
    lake = tmp_path / "lake"
    settings = load_settings(lake_root=lake)
    catalog = Catalog(lake)

    summary = run_import(spark, settings, ImportRequest(
        path, parse_mapping(LOCATION_MAP), label_column="fraud", scenario_column="scenario",
        label_delay_days=30,
        chunk_rows=2_000))
    assert (summary.rows, summary.chunks) == (EVENTS + 3, 2)
    assert summary.silver == EVENTS and summary.resends == 1
    assert summary.reasons == {"invalid_amount": 1, "conflicting_duplicate": 1}

    assert _count(spark, catalog.table("bronze.transactions_raw")) == EVENTS + 3
    silver = spark.read.format("delta").load(catalog.table("silver.transactions"))
    assert silver.count() == silver.select("transaction_id").distinct().count() == EVENTS
    oldest = silver.agg(F.min("event_date")).first()[0]
    assert oldest <= (datetime.now(UTC) - timedelta(days=59)).date()
    quarantine = {(r["primary_reason"], r["source_offset"]) for r in spark.read.format("delta")
                  .load(catalog.table("silver.quarantine")).collect()}
    assert quarantine == {("invalid_amount", EVENTS), ("conflicting_duplicate", EVENTS + 1)}
    labels = spark.read.format("delta").load(catalog.table("gold.labels"))
    frauds = sum(1 for row in rows if row["fraud"] == "1")
    assert labels.count() == EVENTS + 1  # the broken row is labelled too: its id is known
    assert labels.where("label = 'fraud'").count() == frauds
    assert {r[0] for r in labels.select("scenario").distinct().collect()} == {
        row["scenario"] for row in rows}
    # Each label known 30 days after its payment (--label-delay), never at the import's time.
    known_late = labels.join(silver, "transaction_id").where(
        F.col("labelled_at") == F.col("event_time") + F.expr("INTERVAL 30 DAYS"))
    assert known_late.count() == EVENTS
    assert "fraud" not in spark.read.format("delta").load(
        catalog.table("bronze.transactions_raw")).first()["value"].decode()
    # The per-minute activity tables hold the imported payments, as after the stream.
    assert _activity_payments(spark, catalog) == {"gold.user_activity_1m": EVENTS,
                                                  "gold.merchant_activity_1m": EVENTS}

    again = run_cli("import", str(path), "--map", LOCATION_MAP, "--label-column", "fraud",
                    "--label-delay", "30",
                    "--scenario-column",
                    "scenario", "--chunk-rows", "2000", env={"PAYSTREAM_LAKE_ROOT": str(lake)},
                    timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"imported {EVENTS + 3:,} rows in 2 chunks: silver +0," in again.stdout, again.stdout
    assert _count(spark, catalog.table("bronze.transactions_raw")) == EVENTS + 3
    assert _count(spark, catalog.table("silver.transactions")) == EVENTS
    assert _count(spark, catalog.table("silver.quarantine")) == 2
    assert _activity_payments(spark, catalog) == {"gold.user_activity_1m": EVENTS,
                                                  "gold.merchant_activity_1m": EVENTS}


def _activity_payments(spark, catalog: Catalog) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Payments counted by each per-minute activity table (its rows are additive)."""
    return {name: int(spark.read.format("delta").load(catalog.table(name))
                      .agg({"payments": "sum"}).first()[0])
            for name in ("gold.user_activity_1m", "gold.merchant_activity_1m")}
