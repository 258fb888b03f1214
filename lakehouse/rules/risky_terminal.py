"""risky_terminal: a payment at a merchant whose known confirmed-fraud rate is high (behaviour:
lakehouse.behaviour's terminal window over the labels known).

Tested in tests/unit/test_behaviour.py and, stream against batch, test_stream_behaviour.py; the
stateful query judges it in spark_jobs/jvm (MerchantStage).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field, NonNegativeInt, PositiveInt

from lakehouse.rules.base import Family, Rule, RuleParams, needs_features, shape_alerts

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

RULE_ID = "risky_terminal"
FAMILY: Family = "behaviour"


class Params(RuleParams):
    """At least min_frauds known frauds making at least min_fraud_rate of a terminal's payments
    over window_days days that end delay_days before the payment's day."""

    delay_days: NonNegativeInt
    window_days: PositiveInt
    min_frauds: PositiveInt
    min_fraud_rate: Annotated[float, Field(ge=0, le=1)]


def alerts(rows: DataFrame, rule: Rule, detected_at: Column) -> DataFrame:
    """A payment at a merchant whose known confirmed-fraud rate, over a window that ends a delay
    before the payment's day, is high on enough frauds."""
    from pyspark.sql import functions as F

    needs_features(rows, rule, ("terminal_frauds", "terminal_fraud_rate"))
    hits = rows.where((F.col("terminal_frauds") >= int(rule.param("min_frauds")))
                      & (F.col("terminal_fraud_rate") >= float(rule.param("min_fraud_rate"))))
    details = F.struct(F.round("terminal_fraud_rate", 4).alias("terminal_fraud_rate"),
                       F.col("terminal_frauds"), F.col("terminal_payments"),
                       F.lit(int(rule.param("delay_days"))).alias("delay_days"))
    return shape_alerts(hits, rule, details, detected_at)
