"""risky_terminal: a payment at a merchant whose recently known confirmed-fraud rate is high
(behaviour: lakehouse.behaviour's terminal features over the labels known before the payment's
day), until the terminal's newest known fraud is older than its labels' usual lateness plus
`fade_days` (a repaired terminal stops being flagged).

Tested in tests/unit/test_behaviour.py, tests/golden_rules/risky_terminal.yaml (both engines)
and, stream against batch, test_stream_behaviour.py; the stateful query judges it in
spark_jobs/jvm (MerchantStage).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, NonNegativeInt, PositiveInt

from lakehouse.rules.base import Family, Rule, RuleParams, needs_features, shape_alerts

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

RULE_ID = "risky_terminal"
FAMILY: Family = "behaviour"
DEFAULT_FADE_DAYS = 1
RETIRED = {"delay_days": "the terminal window now counts every label known before the "
                         "payment's day over the last window_days days, and fades after the "
                         "labels' observed lateness plus fade_days"}
"""Parameters an older rules file may still name: accepted, ignored, and logged once."""
_log = logging.getLogger(__name__)
_warned: set[str] = set()
"""The rules files already warned about in this process (a file is read many times)."""


class Params(RuleParams):
    """At least min_frauds frauds, known before the payment's day, among the terminal's payments
    of the last window_days days, making at least min_fraud_rate of its payments up to the
    newest of them, which is at most the labels' mean lateness plus fade_days old."""

    window_days: PositiveInt
    min_frauds: PositiveInt
    min_fraud_rate: Annotated[float, Field(ge=0, le=1)]
    fade_days: NonNegativeInt = DEFAULT_FADE_DAYS


def upgrade_params(params: dict[str, Any], source: str) -> dict[str, Any]:
    """The parameters of an older rules file in today's shape: retired ones dropped with one
    warning line naming the change (once per file and process), fade_days filled in when
    absent (pure but for the log)."""
    retired = sorted(set(params) & set(RETIRED))
    if retired and source not in _warned:
        _warned.add(source)
        _log.warning("%s: rule %s: %s ignored: %s", source, RULE_ID, ", ".join(retired),
                     "; ".join(RETIRED[name] for name in retired))
    upgraded = {k: v for k, v in params.items() if k not in RETIRED}
    upgraded.setdefault("fade_days", DEFAULT_FADE_DAYS)
    return upgraded


def alerts(rows: DataFrame, rule: Rule, detected_at: Column) -> DataFrame:
    """A payment at a merchant whose known confirmed-fraud rate is high on enough frauds, while
    its newest known fraud is recent for how late its labels come."""
    from pyspark.sql import functions as F

    needs_features(rows, rule, ("terminal_frauds", "terminal_fraud_rate",
                                "terminal_days_since_fraud", "terminal_label_lag_days"))
    fade = int(rule.param("fade_days"))
    hits = rows.where((F.col("terminal_frauds") >= int(rule.param("min_frauds")))
                      & (F.col("terminal_fraud_rate") >= float(rule.param("min_fraud_rate")))
                      & (F.col("terminal_days_since_fraud")
                         <= F.col("terminal_label_lag_days") + F.lit(float(fade))))
    details = F.struct(F.round("terminal_fraud_rate", 4).alias("terminal_fraud_rate"),
                       F.col("terminal_frauds"), F.col("terminal_payments"),
                       F.col("terminal_days_since_fraud").alias("days_since_fraud"),
                       F.col("terminal_label_lag_days").alias("label_lag_days"),
                       F.lit(int(rule.param("window_days"))).alias("window_days"))
    return shape_alerts(hits, rule, details, detected_at)
