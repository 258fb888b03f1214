"""Reference statistics learned from the lake: the category factors the behavioural features use.

A user's expected amount is their usual spend scaled by the merchant category's factor: the
category's mean ticket over the mean ticket of all payments. spark_jobs.reference_stats
learns the factors from the payments of silver not known as fraud (the newest WINDOW_DAYS
days) and writes them to gold.category_factors, replacing every row, so the table's Delta
version is the version of the statistics. A category needs MIN_PAYMENTS payments, and the
history MIN_HISTORY_DAYS days with payments, before its factor is learned; until then it keeps
the cold-start default of the reference table (lakehouse.mcc.category_factors).

The stream (spark_jobs.stateful_alerts), the backfill and the backtest (spark_jobs.gold_batch)
all read the factors through load_category_factors, so a new version reaches each of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from lakehouse.catalog import Catalog
from lakehouse.mcc import category_factors
from lakehouse.settings import Settings
from lakehouse.stores import delta
from lakehouse.tables import GOLD_CATEGORY_FACTORS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

WINDOW_DAYS = 30
"""How many days of silver, ending at its newest day, the statistics are learned from."""
MIN_PAYMENTS = 200
"""The payments a category needs in the window before its factor is learned."""
MIN_HISTORY_DAYS = 7
"""The days with payments the window needs before any factor is learned (the floor)."""
FACTOR_PLACES = Decimal("0.0001")
"""Factors are rounded half up to 4 places, the scale both engines multiply by (decimal(10,4))."""
UNLISTED_FACTOR = 1.0
"""The factor of a category neither learned nor in the reference table (the features' own
fallback: lakehouse.behaviour and Behaviour.java)."""
LEARNED, DEFAULT = "learned", "default"


@dataclass(frozen=True)
class DailyTotal:
    """One merchant category's payments on one day, fraud known at the time left out."""

    merchant_category: str
    day: date
    payments: int
    amount_eur: Decimal


@dataclass(frozen=True)
class CategoryFactor:
    """One row of gold.category_factors, before its window and time are added."""

    merchant_category: str
    factor: float
    payments: int
    mean_eur: Decimal | None
    source: str


@dataclass(frozen=True)
class HistorySpan:
    """The first and last day with payments, and how many days had any."""

    first: date | None
    last: date | None
    days: int


@dataclass(frozen=True)
class CategoryFactors:
    """The factors every reader uses: MCC -> factor, the Delta version of
    gold.category_factors they come from (None: the table does not exist yet), and whether any
    was `learned` or all are the cold-start `default`."""

    factors: dict[str, float]
    version: int | None
    source: str


def history_span(daily: Iterable[DailyTotal]) -> HistorySpan:
    """The days the daily totals cover (pure)."""
    days = sorted({d.day for d in daily if d.payments > 0})
    return HistorySpan(days[0] if days else None, days[-1] if days else None, len(days))


def _ratio(part: Decimal, whole: Decimal) -> float:
    """part / whole rounded half up to FACTOR_PLACES."""
    return float((part / whole).quantize(FACTOR_PLACES, ROUND_HALF_UP))


def learn_factors(daily: Iterable[DailyTotal], defaults: Mapping[str, float],
                  min_payments: int = MIN_PAYMENTS,
                  min_history_days: int = MIN_HISTORY_DAYS) -> list[CategoryFactor]:
    """One factor per category of the totals or the defaults, sorted by category: the
    category's mean amount over the mean amount of every payment, rounded to 4 places, when
    the category has `min_payments` payments and the history `min_history_days` days with
    payments; its default otherwise (UNLISTED_FACTOR for a category the defaults lack) (pure)."""
    rows = list(daily)
    counts: dict[str, int] = {}
    sums: dict[str, Decimal] = {}
    for row in rows:
        counts[row.merchant_category] = counts.get(row.merchant_category, 0) + row.payments
        sums[row.merchant_category] = sums.get(row.merchant_category, Decimal(0)) + row.amount_eur
    total_payments, total_eur = sum(counts.values()), sum(sums.values(), Decimal(0))
    enough_history = history_span(rows).days >= min_history_days
    out = []
    for category in sorted(set(counts) | set(defaults)):
        payments = counts.get(category, 0)
        mean = sums[category] / payments if payments else None
        if enough_history and payments >= min_payments and mean is not None and total_eur > 0:
            factor, source = _ratio(mean, total_eur / total_payments), LEARNED
        else:
            factor, source = defaults.get(category, UNLISTED_FACTOR), DEFAULT
        out.append(CategoryFactor(
            category, factor, payments,
            None if mean is None else mean.quantize(Decimal("0.01"), ROUND_HALF_UP), source))
    return out


def factor_text(factor: float) -> str:
    """A factor as the decimal both engines multiply by: to 4 places, half up, as
    with_features' cast to decimal(10,4) reads it (pure)."""
    return format(Decimal(repr(float(factor))).quantize(FACTOR_PLACES, ROUND_HALF_UP), "f")


def cold_start_factors() -> CategoryFactors:
    """The reference table's factors, before the lake has taught any (no version)."""
    return CategoryFactors(dict(category_factors()), None, DEFAULT)


def factors_version(spark: SparkSession, settings: Settings) -> int | None:
    """The Delta version of gold.category_factors, None while it does not exist."""
    path = Catalog(settings.lake_location).table(GOLD_CATEGORY_FACTORS)
    return delta.table_version(spark, path) if delta.delta_exists(spark, path) else None


def load_category_factors(spark: SparkSession, settings: Settings,
                          version: int | None = None) -> CategoryFactors:
    """The factors of gold.category_factors (its newest version, or `version`) over the
    cold-start defaults; the defaults alone while the table does not exist."""
    newest = factors_version(spark, settings)
    if newest is None:
        return cold_start_factors()
    at = newest if version is None else version
    rows = delta.read_delta(spark, Catalog(settings.lake_location).table(GOLD_CATEGORY_FACTORS),
                            at).select("merchant_category", "factor", "source").collect()
    learned = {row["merchant_category"]: float(row["factor"]) for row in rows
               if row["merchant_category"] is not None and row["factor"] is not None}
    source = LEARNED if any(row["source"] == LEARNED for row in rows) else DEFAULT
    return CategoryFactors({**category_factors(), **learned}, at, source)
