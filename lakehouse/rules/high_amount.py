"""high_amount: a payment whose amount_eur is above a threshold (instant: one payment alone).

Golden cases: tests/golden_rules/high_amount.yaml.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from lakehouse.rules.base import Family, PositiveDecimal, Rule, RuleParams, shape_alerts

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

RULE_ID = "high_amount"
FAMILY: Family = "instant"


class Params(RuleParams):
    """threshold_eur: a payment above this amount alerts."""

    threshold_eur: PositiveDecimal


def alerts(rows: DataFrame, rule: Rule, detected_at: Column) -> DataFrame:
    """A payment whose amount_eur is above the threshold."""
    from pyspark.sql import functions as F

    threshold = Decimal(str(rule.param("threshold_eur")))
    hits = rows.where(F.col("amount_eur") > F.lit(threshold))
    return shape_alerts(hits, rule, F.struct(F.lit(str(threshold)).alias("threshold_eur")),
                        detected_at)
