"""Risk decisions in batch: every payment of a date range scored (lakehouse.risk) from the
rules that fired on it and its behavioural features, and routed approve / review / block;
with a learned model, scored by it as the stream scores (spark_jobs.risk_model).

The backtest scores these decisions against gold.labels beside the rules.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from lakehouse.risk import (
    TOP_CONTRIBUTIONS,
    RiskConfig,
    contributions_column,
    decision_column,
    rounded_contributions,
    score_column,
)
from lakehouse.rules import Rule
from lakehouse.settings import Settings
from spark_jobs.gold_batch import batch_alerts, featured_payments
from spark_jobs.risk_model import LiveModel, score_decisions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DECISION_COLUMNS = ("transaction_id", "user_id", "merchant_id", "amount_eur", "event_time",
                    "event_date", "fired", "amount_vs_profile_ratio", "terminal_fraud_rate",
                    "risk_score", "decision", "contributions", "model_version", "model_score",
                    "model_reasons")


def min_profile_history(rules: dict[str, Rule]) -> int:
    """How many 30-day payments a user needs before the amount ratio counts (pure)."""
    rule = rules.get("amount_vs_profile")
    return int(rule.param("min_history")) if rule is not None else 10


def decision_inputs(featured: DataFrame, alerts: DataFrame, rules: dict[str, Rule],
                    risk: RiskConfig) -> DataFrame:
    """Featured payments and their alerts -> every featured column plus the rules' decision:
    fired, amount_vs_profile_ratio, contributions (top 3), risk_score, decision (what the
    model scores and trains on)."""
    from pyspark.sql import functions as F

    fired = alerts.groupBy("transaction_id").agg(F.array_sort(F.collect_set("rule_id")).alias(
        "fired"))
    enough = F.col("user_payments_30d") >= min_profile_history(rules)
    ratio = F.when(enough, F.col("amount_eur") / F.col("user_expected_eur")).cast("double")
    scored = (featured.join(fired, "transaction_id", "left")
              .withColumn("fired", F.coalesce("fired", F.array().cast("array<string>")))
              .withColumn("amount_vs_profile_ratio", F.round(ratio, 4))
              .withColumn("contributions", contributions_column(
                  risk, F.col("fired"), F.col("amount_vs_profile_ratio"),
                  F.col("terminal_fraud_rate"))))
    return (scored.withColumn("risk_score", score_column(F.col("contributions")))
            .withColumn("decision", decision_column(risk, F.col("risk_score")))
            .withColumn("contributions",
                        F.slice(rounded_contributions(F.col("contributions")), 1,
                                TOP_CONTRIBUTIONS)))


def decide_payments(featured: DataFrame, alerts: DataFrame, rules: dict[str, Rule],
                    risk: RiskConfig, model: LiveModel | None = None) -> DataFrame:
    """Featured payments and their alerts -> one decision row per payment (DECISION_COLUMNS),
    scored by `model` too (spark_jobs.risk_model; its columns null without one)."""
    from pyspark.sql import functions as F

    decided = decision_inputs(featured, alerts, rules, risk)
    if model is not None:
        return score_decisions(decided, model, risk).select(*DECISION_COLUMNS)
    return (decided.withColumn("model_version", F.lit(None).cast("int"))
            .withColumn("model_score", F.lit(None).cast("double"))
            .withColumn("model_reasons", F.lit(None).cast(
                "array<struct<name:string,value:double>>"))
            .select(*DECISION_COLUMNS))


def batch_decisions(spark: SparkSession, settings: Settings, first: date, last: date,
                    rules: dict[str, Rule], risk: RiskConfig,
                    model: LiveModel | None = None) -> DataFrame:
    """One decision per silver payment with event_date in [first, last] (scored by `model`
    too, when given)."""
    # Checkpointed: the behavioural rules and the decisions both read it.
    featured = featured_payments(spark, settings, first, last, rules).localCheckpoint()
    alerts = batch_alerts(spark, settings, first, last, rules, featured)
    return decide_payments(featured, alerts, rules, risk, model)
