"""The batch side of the rules: the same functions over a range of silver dates.

The backfill uses it; for the same silver rows it returns the same alerts,
with the same alert_ids, as the stream wrote to gold.alerts. The behavioural rules
(lakehouse.rules.BEHAVIOUR_RULES) judge the range's payments with their features
(lakehouse.behaviour), computed from the whole days of silver and gold.labels before them,
with the category factors of gold.category_factors (lakehouse.reference_stats).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from lakehouse import rules_watch
from lakehouse.behaviour import TerminalWindow, with_features
from lakehouse.catalog import Catalog
from lakehouse.reference_stats import load_category_factors
from lakehouse.rules import BEHAVIOUR_RULES, Rule, evaluate_rules, load_rules, lookback_seconds
from lakehouse.settings import Settings
from lakehouse.stores import delta
from lakehouse.tables import SILVER_TRANSACTIONS
from spark_jobs import gold_labels

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def silver_context(spark: SparkSession, settings: Settings, first: date, last: date,
                   margin: timedelta) -> DataFrame:
    """Silver payments with event_date in [first - margin, last + margin]."""
    from pyspark.sql import functions as F

    silver = delta.read_table(spark, Catalog(settings.lake_location), SILVER_TRANSACTIONS)
    return silver.where(F.col("event_date").between(F.lit(first - margin), F.lit(last + margin)))


def featured_payments(spark: SparkSession, settings: Settings, first: date, last: date,
                      rules: dict[str, Rule]) -> DataFrame:
    """Silver payments with event_date in [first, last] and their behavioural features, with
    the category factors the stream reads too (gold.category_factors, else the defaults)."""
    from pyspark.sql import functions as F

    window = TerminalWindow.of(rules)
    history = silver_context(spark, settings, first, last,
                             timedelta(days=window.history_days + 1))
    payments = history.where(F.col("event_date").between(F.lit(first), F.lit(last)))
    return with_features(payments, history, gold_labels.read_labels(spark, settings), window,
                         load_category_factors(spark, settings).factors)


def batch_alerts(spark: SparkSession, settings: Settings, first: date, last: date,
                 rules: dict[str, Rule] | None = None,
                 featured: DataFrame | None = None) -> DataFrame:
    """Alerts for payments with event_date in [first, last], judged with their full history
    (`featured`: the range's featured_payments, when the caller has them already), each with
    the rules file's version (null when the caller gives the rules)."""
    from pyspark.sql import functions as F

    version = None if rules else rules_watch.rules_version(settings.rules_file)
    rules = rules or load_rules(settings.rules_file)
    plain = {k: r for k, r in rules.items() if k not in BEHAVIOUR_RULES}
    behavioural = {k: r for k, r in rules.items() if k in BEHAVIOUR_RULES and r.enabled}
    margin = timedelta(seconds=lookback_seconds(plain)) + timedelta(days=1)
    context = silver_context(spark, settings, first, last, margin)
    alerts = evaluate_rules(context, plain, F.current_timestamp())
    if behavioural:
        if featured is None:
            featured = featured_payments(spark, settings, first, last, rules)
        alerts = alerts.unionByName(evaluate_rules(featured, behavioural, F.current_timestamp()))
    return alerts.where(F.col("event_date").between(F.lit(first), F.lit(last))).withColumn(
        "rules_version", F.lit(version).cast("string"))
