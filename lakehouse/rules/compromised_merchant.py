"""compromised_merchant: many distinct cards paying far above their category's typical ticket at
one merchant (keyed by merchant).

Golden cases: tests/golden_rules/compromised_merchant.yaml; the stateful query judges it in
spark_jobs/jvm (KeyedRules.compromisedMerchant), with the elevated flag computed here.
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

RULE_ID = "compromised_merchant"
FAMILY: Family = "merchant"


class Params(RuleParams):
    """min_distinct_users distinct cards, each paying at least ticket_multiple times its
    category's typical ticket, at one merchant within window_seconds."""

    min_distinct_users: PositiveInt
    ticket_multiple: PositiveDecimal
    window_seconds: PositiveInt


def elevated_ticket_eur(rule: Rule) -> dict[str, Decimal]:
    """MCC -> the amount from which a payment counts as elevated for compromised_merchant."""
    from lakehouse.mcc import merchant_categories

    multiple = Decimal(str(rule.param("ticket_multiple")))
    return {c.mcc: c.typical_ticket_eur * multiple for c in merchant_categories().values()}


def alerts(rows: DataFrame, rule: Rule, detected_at: Column) -> DataFrame:
    """Many distinct cards paying far above their category's typical ticket at one merchant."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    multiple = Decimal(str(rule.param("ticket_multiple")))
    need = int(rule.param("min_distinct_users"))
    window_ms = int(rule.param("window_seconds")) * 1000
    tickets = F.create_map(*[item for mcc, eur in sorted(elevated_ticket_eur(rule).items())
                             for item in (F.lit(mcc), F.lit(eur))])
    elevated = rows.where(
        F.col("amount_eur") >= F.try_element_at(tickets, F.col("merchant_category")))
    trailing = (Window.partitionBy("merchant_id").orderBy(event_ms())
                .rangeBetween(-window_ms, 0))
    counted = elevated.withColumn("distinct_cards", F.size(F.collect_set("card_id").over(trailing)))
    hits = counted.where(F.col("distinct_cards") >= need)
    details = F.struct(F.col("distinct_cards"), F.lit(str(multiple)).alias("ticket_multiple"))
    return shape_alerts(hits, rule, details, detected_at)
