"""velocity: more than max_payments payments by one user within window_seconds (keyed by user).

Golden cases: tests/golden_rules/velocity.yaml; the stateful query judges it in
spark_jobs/jvm (KeyedRules.velocity).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import PositiveInt

from lakehouse.rules.base import Family, Rule, RuleParams, event_ms, shape_alerts

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

RULE_ID = "velocity"
FAMILY: Family = "user"


class Params(RuleParams):
    """More than max_payments payments by one user within window_seconds."""

    max_payments: PositiveInt
    window_seconds: PositiveInt


def alerts(rows: DataFrame, rule: Rule, detected_at: Column) -> DataFrame:
    """The payment that makes more than N payments by one user within W seconds (and each after)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    limit, window_ms = int(rule.param("max_payments")), int(rule.param("window_seconds")) * 1000
    trailing = (Window.partitionBy("user_id").orderBy(event_ms())
                .rangeBetween(-window_ms, 0))
    counted = rows.withColumn("payments_in_window", F.count(F.lit(1)).over(trailing))
    hits = counted.where(F.col("payments_in_window") > limit)
    details = F.struct(F.col("payments_in_window"), F.lit(limit).alias("max_payments"),
                       F.lit(window_ms // 1000).alias("window_seconds"))
    return shape_alerts(hits, rule, details, detected_at)
