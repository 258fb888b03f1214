"""amount_vs_profile: a payment far above what its user usually spends at this kind of merchant
(behaviour: lakehouse.behaviour's per-user profile).

Tested in tests/unit/test_behaviour.py and, stream against batch, test_stream_behaviour.py; the
stateful query judges it in spark_jobs/jvm (UserStage).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from pydantic import NonNegativeInt, PositiveFloat

from lakehouse.rules.base import (
    Family,
    NonNegativeDecimal,
    Rule,
    RuleParams,
    needs_features,
    shape_alerts,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

RULE_ID = "amount_vs_profile"
FAMILY: Family = "behaviour"


class Params(RuleParams):
    """Above `multiple` times the user's expected amount, for a user with min_history payments
    in 30 days, from min_amount_eur up."""

    multiple: PositiveFloat
    min_history: NonNegativeInt
    min_amount_eur: NonNegativeDecimal


def alerts(rows: DataFrame, rule: Rule, detected_at: Column) -> DataFrame:
    """A payment far above what its user usually spends at this kind of merchant
    (user_expected_eur: the baseline mean scaled by the category), for a user with enough
    history."""
    from pyspark.sql import functions as F

    needs_features(rows, rule, ("user_payments_30d", "user_mean_eur_30d", "user_expected_eur"))
    multiple = Decimal(str(rule.param("multiple")))
    history = int(rule.param("min_history"))
    floor = Decimal(str(rule.param("min_amount_eur")))
    hits = rows.where((F.col("user_payments_30d") >= history)
                      & (F.col("amount_eur") >= F.lit(floor))
                      & (F.col("amount_eur") > F.col("user_expected_eur") * F.lit(multiple)))
    details = F.struct(F.col("user_expected_eur").cast("string").alias("user_expected_eur"),
                       F.col("user_mean_eur_30d").cast("string").alias("user_mean_eur_30d"),
                       F.col("user_payments_30d"), F.lit(str(multiple)).alias("multiple"))
    return shape_alerts(hits, rule, details, detected_at)
