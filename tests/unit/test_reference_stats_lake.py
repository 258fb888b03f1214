"""gold.category_factors on a real lake: the job learns the factors from silver and gold.labels,
versions them, and the backfill's features and the stream's processor config read the same
version (spark_jobs.reference_stats, lakehouse.reference_stats)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from lakehouse.catalog import Catalog
from lakehouse.mcc import category_factors
from lakehouse.reference_stats import (
    DEFAULT,
    LEARNED,
    factors_version,
    load_category_factors,
)
from lakehouse.risk import load_risk
from lakehouse.rules import RULES_PATH, load_rules
from lakehouse.settings import Settings, load_settings
from lakehouse.stores import delta
from lakehouse.tables import GOLD_CATEGORY_FACTORS, GOLD_LABELS
from tests.lake_rows import write_as_silver

FIRST = date(2026, 10, 1)
LAST = FIRST + timedelta(days=7)
NOW = datetime(2026, 10, 12, 6, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=3)
"""8 days of payments: 5411 200 at 20 EUR, 5732 200 at 100 EUR (plus 10 frauds of 5,000 EUR
known before NOW, and one of 100 EUR known only after NOW), 5814 50 at 10 EUR on one day
(under the minimum); 40 days before, 300 of 5411 at 999 EUR (outside the default window)."""


def _payments() -> list[tuple[str, str, str, Decimal, date]]:
    """(transaction_id, user_id, merchant_category, amount_eur, event_date)."""
    rows = []
    for day in range(8):
        on = FIRST + timedelta(days=day)
        rows += [(f"g{day}-{n}", f"u{n % 5}", "5411", Decimal("20.00"), on) for n in range(25)]
        rows += [(f"e{day}-{n}", f"u{n % 5}", "5732", Decimal("100.00"), on) for n in range(25)]
    rows += [("late-fraud", "u1", "5732", Decimal("100.00"), FIRST)]
    rows += [(f"f{n}", "u9", "5732", Decimal("5000.00"), FIRST + timedelta(days=n % 8))
             for n in range(10)]
    rows += [(f"k{n}", f"u{n % 5}", "5814", Decimal("10.00"), LAST) for n in range(50)]
    rows += [(f"old{n}", "u2", "5411", Decimal("999.00"), FIRST - timedelta(days=40))
             for n in range(300)]
    return rows


def _labels() -> list[tuple[str, str, None, str, datetime]]:
    known = [(f"f{n}", "fraud", None, "chargebacks", datetime(2026, 10, 10, tzinfo=UTC))
             for n in range(10)]
    legit = [("g0-0", "legit", None, "analyst", datetime(2026, 10, 2, tzinfo=UTC))]
    return [*known, *legit, ("late-fraud", "fraud", None, "chargebacks", NOW + timedelta(days=1))]


def _write_lake(spark: Any, settings: Settings) -> None:
    """Silver and gold.labels as their writers leave them (the columns the job reads filled)."""
    from pyspark.sql import functions as F

    catalog = Catalog(settings.lake_location)
    frame = spark.createDataFrame(
        _payments(), "transaction_id string, user_id string, merchant_category string, "
                     "amount_eur decimal(18,2), event_date date")
    frame = (frame.withColumn("event_time", F.to_timestamp(F.col("event_date")) + F.expr(
                 "make_interval(0, 0, 0, 0, 12, 0, 0)"))
             .withColumn("merchant_id", F.concat(F.lit("m-"), F.col("merchant_category"))))
    write_as_silver(frame, catalog)
    (spark.createDataFrame(_labels(), delta.declared_schema(GOLD_LABELS))
     .write.format("delta").save(catalog.table(GOLD_LABELS)))


def _expected(sums: dict[str, tuple[int, Decimal]]) -> dict[str, float]:
    """Each category's mean over the mean of every payment counted, to 4 places half up."""
    overall = sum(s for _, s in sums.values()) / sum(n for n, _ in sums.values())
    return {c: float((s / n / overall).quantize(Decimal("0.0001"), ROUND_HALF_UP))
            for c, (n, s) in sums.items()}


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory: pytest.TempPathFactory) -> Settings:  # type: ignore[no-untyped-def]
    settings = load_settings(lake_root=tmp_path_factory.mktemp("reference") / "lake")
    _write_lake(spark, settings)
    return settings


def _featured_factor(spark: Any, settings: Settings, category: str) -> tuple[float, Any]:
    """The category factor and expected amount the backfill's features give a payment."""
    from pyspark.sql import functions as F

    from spark_jobs.gold_batch import featured_payments

    row = (featured_payments(spark, settings, LAST, LAST, load_rules())
           .where(F.col("merchant_category") == category)
           .select("category_factor", "user_expected_eur", "user_baseline_eur",
                   "user_mean_eur_30d").first())
    assert row is not None
    return row["category_factor"], row


def _stream_factors(spark: Any, settings: Settings) -> dict[str, str]:
    """The category factors the stateful processor's config carries."""
    from spark_jobs.stateful_alerts import processor_config

    config = processor_config(load_rules(), 1800, load_risk(RULES_PATH),
                              load_category_factors(spark, settings).factors)
    factors: dict[str, str] = json.loads(config)["behaviour"]["category_factors"]
    return factors


def test_the_job_learns_versions_and_every_reader_follows(spark, lake: Settings) -> None:  # type: ignore[no-untyped-def]
    from spark_jobs.reference_stats import run

    # before any run, every reader has the cold-start defaults
    loaded = load_category_factors(spark, lake)
    assert (loaded.factors, loaded.version, loaded.source) == (category_factors(), None, DEFAULT)
    assert factors_version(spark, lake) is None
    assert _featured_factor(spark, lake, "5732")[0] == category_factors()["5732"] == 5.3866
    assert _stream_factors(spark, lake)["5732"] == "5.3866"

    summary = run(spark, lake, now=NOW)
    # the frauds known at NOW are left out; the one known only later still counts; the 300
    # old payments are outside the 30 days ending at silver's newest day
    first = _expected({"5411": (200, Decimal(4000)), "5732": (201, Decimal(20100)),
                       "5814": (50, Decimal(500))})
    assert summary == {"version": 0, "computed_from": "2026-10-01",
                       "computed_to": "2026-10-08", "history_days": 8,
                       "learned": ["5411", "5732"], "defaults": len(category_factors()) - 2}
    table = {r["merchant_category"]: r for r in delta.read_table(
        spark, Catalog(lake.lake_location), GOLD_CATEGORY_FACTORS).collect()}
    assert set(table) == set(category_factors())
    assert (table["5411"]["factor"], table["5411"]["payments"], table["5411"]["mean_eur"],
            table["5411"]["source"]) == (first["5411"], 200, Decimal("20.00"), LEARNED)
    assert (table["5732"]["factor"], table["5732"]["payments"]) == (first["5732"], 201)
    assert (table["5814"]["factor"], table["5814"]["payments"], table["5814"]["source"]) == (
        0.2309, 50, DEFAULT)
    assert {(r["computed_from"], r["computed_to"], r["computed_at"].timestamp())
            for r in table.values()} == {(FIRST, LAST, NOW.timestamp())}
    loaded = load_category_factors(spark, lake)
    assert (loaded.version, loaded.source, factors_version(spark, lake)) == (0, LEARNED, 0)
    assert loaded.factors == {**category_factors(), "5411": first["5411"],
                              "5732": first["5732"]}
    factor, row = _featured_factor(spark, lake, "5411")
    assert factor == first["5411"] == 0.3667
    usual = row["user_baseline_eur"] or row["user_mean_eur_30d"]
    assert row["user_expected_eur"] == (usual * Decimal("0.3667")).quantize(
        Decimal("0.01"), ROUND_HALF_UP)
    streamed = _stream_factors(spark, lake)
    assert (streamed["5411"], streamed["5732"], streamed["5814"]) == ("0.3667", "1.8333",
                                                                      "0.2309")

    # later, the late fraud is known: a new version, and every reader moves with it
    summary = run(spark, lake, now=LATER)
    second = _expected({"5411": (200, Decimal(4000)), "5732": (200, Decimal(20000)),
                        "5814": (50, Decimal(500))})
    assert summary["version"] == 1 and second["5411"] == 0.3673 != first["5411"]
    assert load_category_factors(spark, lake).factors["5411"] == second["5411"]
    assert _featured_factor(spark, lake, "5411")[0] == second["5411"]
    assert _stream_factors(spark, lake)["5411"] == "0.3673"
    # an earlier version stays readable, by its number
    assert load_category_factors(spark, lake, version=0).factors["5411"] == first["5411"]


def test_only_the_job_writes_the_table(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from lakehouse.errors import PaystreamError
    from spark_jobs.reference_stats import factor_rows

    rows = factor_rows(spark, [], None, None, NOW)
    with pytest.raises(PaystreamError, match="whose declared writers are spark_jobs.reference"):
        delta.replace_table(rows, Catalog(tmp_path), GOLD_CATEGORY_FACTORS)
    assert not delta.delta_exists(spark, Catalog(tmp_path).table(GOLD_CATEGORY_FACTORS))
