"""The batch side of the rules: the same functions over a range of silver dates.

The backfill uses it; for the same silver rows it returns the same alerts,
with the same alert_ids, as the stream wrote to gold.alerts.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from lakehouse.catalog import Catalog
from lakehouse.rules import Rule, evaluate_rules, load_rules, lookback_seconds
from lakehouse.settings import Settings
from spark_jobs import io

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def batch_alerts(spark: SparkSession, settings: Settings, first: date, last: date,
                 rules: dict[str, Rule] | None = None) -> DataFrame:
    """Alerts for payments with event_date in [first, last], judged with their full history."""
    from pyspark.sql import functions as F

    rules = rules or load_rules(settings.rules_file)
    margin = timedelta(seconds=lookback_seconds(rules)) + timedelta(days=1)
    silver = io.read_delta(spark, Catalog(settings.lake_location).table("silver.transactions"))
    context = silver.where(F.col("event_date").between(F.lit(first - margin), F.lit(last + margin)))
    alerts = evaluate_rules(context, rules, F.current_timestamp())
    return alerts.where(F.col("event_date").between(F.lit(first), F.lit(last)))
