"""gold.category_factors: the category factors learned from silver (lakehouse.reference_stats).

For a window of silver event dates (default: the WINDOW_DAYS days ending at silver's newest
day), the payments not known as fraud when the job runs (gold.labels, `labelled_at` up to
then) are totalled per merchant category and day; lakehouse.reference_stats.learn_factors
turns the totals into one factor per category, learned or the cold-start default, and the
rows replace the whole table in one commit. This module is the table's only writer; the
`reference_statistics` DAG runs it daily.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lakehouse.catalog import Catalog
from lakehouse.mcc import category_factors
from lakehouse.reference_stats import (
    LEARNED,
    WINDOW_DAYS,
    CategoryFactor,
    DailyTotal,
    history_span,
    learn_factors,
)
from lakehouse.settings import Settings
from lakehouse.stores import delta
from lakehouse.tables import GOLD_CATEGORY_FACTORS, SILVER_TRANSACTIONS
from spark_jobs import gold_labels

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def daily_totals(silver: DataFrame, labels: DataFrame, known_at: datetime) -> DataFrame:
    """Per merchant category and event date: payments and their amount_eur, leaving out the
    payments labelled fraud at or before `known_at` (pure: DataFrames in, a DataFrame out)."""
    from pyspark.sql import functions as F

    fraud = labels.where((F.col("label") == "fraud")
                         & (F.col("labelled_at") <= F.lit(known_at))).select("transaction_id")
    return (silver.where(F.col("merchant_category").isNotNull())
            .join(fraud, "transaction_id", "left_anti")
            .groupBy("merchant_category", F.col("event_date").alias("day"))
            .agg(F.count(F.lit(1)).alias("payments"),
                 F.sum("amount_eur").alias("amount_eur")))


def factor_rows(spark: SparkSession, factors: Sequence[CategoryFactor], first: date | None,
                last: date | None, computed_at: datetime) -> DataFrame:
    """The rows of gold.category_factors, in its declared columns."""
    return spark.createDataFrame(
        [(f.merchant_category, f.factor, f.payments, f.mean_eur, f.source, first, last,
          computed_at) for f in factors],
        delta.declared_schema(GOLD_CATEGORY_FACTORS))


def default_window(silver: DataFrame, first: date | None,
                   last: date | None) -> tuple[date | None, date | None]:
    """The window asked for, its missing ends from silver: `last` its newest event date,
    `first` WINDOW_DAYS days back from `last` (both None for an empty silver)."""
    from pyspark.sql import functions as F

    if last is None:
        newest = silver.agg(F.max("event_date")).first()
        last = newest[0] if newest is not None else None
    if first is None and last is not None:
        first = last - timedelta(days=WINDOW_DAYS - 1)
    return first, last


def run(spark: SparkSession, settings: Settings, first: date | None = None,
        last: date | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Learn the category factors from silver event dates [first, last] (default: the newest
    WINDOW_DAYS days) and replace gold.category_factors with them; return the version
    written and what it holds."""
    from pyspark.sql import functions as F

    computed_at = now or datetime.now(UTC)
    catalog = Catalog(settings.lake_location)
    totals: list[DailyTotal] = []
    silver_path = catalog.table(SILVER_TRANSACTIONS)
    if delta.delta_exists(spark, silver_path):
        silver = delta.read_delta(spark, silver_path)
        first, last = default_window(silver, first, last)
        if first is not None and last is not None:
            window = silver.where(F.col("event_date").between(F.lit(first), F.lit(last)))
            totals = [DailyTotal(row["merchant_category"], row["day"], int(row["payments"]),
                                 Decimal(row["amount_eur"]))
                      for row in daily_totals(window, gold_labels.read_labels(spark, settings),
                                              computed_at).collect()]
    factors = learn_factors(totals, category_factors())
    span = history_span(totals)
    version = delta.replace_table(factor_rows(spark, factors, span.first, span.last, computed_at),
                                  catalog, GOLD_CATEGORY_FACTORS)
    learned = [f.merchant_category for f in factors if f.source == LEARNED]
    return {"version": version,
            "computed_from": span.first.isoformat() if span.first else None,
            "computed_to": span.last.isoformat() if span.last else None,
            "history_days": span.days, "learned": learned,
            "defaults": len(factors) - len(learned)}
