"""card_testing: tiny online payments by one user spread over many merchants (keyed by user).

Golden cases: tests/golden_rules/card_testing.yaml; the stateful query judges it in
spark_jobs/jvm (KeyedRules.cardTesting).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from pydantic import PositiveInt

from lakehouse.rules.base import (
    Family,
    PositiveDecimal,
    Rule,
    RuleParams,
    event_ms,
    shape_alerts,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

RULE_ID = "card_testing"
FAMILY: Family = "user"


class Params(RuleParams):
    """Ecommerce payments of at most max_amount_eur at min_distinct_merchants or more distinct
    merchants within window_seconds."""

    max_amount_eur: PositiveDecimal
    min_distinct_merchants: PositiveInt
    window_seconds: PositiveInt


def alerts(rows: DataFrame, rule: Rule, detected_at: Column) -> DataFrame:
    """A tiny online payment that makes a user's tiny payments span many distinct merchants."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ceiling = Decimal(str(rule.param("max_amount_eur")))
    need = int(rule.param("min_distinct_merchants"))
    window_ms = int(rule.param("window_seconds")) * 1000
    tiny = rows.where((F.col("amount_eur") <= F.lit(ceiling)) & (F.col("channel") == "ecommerce"))
    trailing = (Window.partitionBy("user_id").orderBy(event_ms())
                .rangeBetween(-window_ms, 0))
    counted = tiny.withColumn("distinct_merchants",
                              F.size(F.collect_set("merchant_id").over(trailing)))
    hits = counted.where(F.col("distinct_merchants") >= need)
    details = F.struct(F.col("distinct_merchants"), F.lit(str(ceiling)).alias("max_amount_eur"))
    return shape_alerts(hits, rule, details, detected_at)
