"""Behavioural features: what a user and a terminal (merchant) usually do, as of each payment.

Pure DataFrame functions over silver-shaped rows (the payments to score plus their history)
and gold.labels. Every window is made of whole UTC days before the payment's own day, so a
profile is a handful of daily totals per key (what keyed state can hold cheaply) and a
payment never profiles itself or the rest of its day:

- per user, over the last 1, 7 and 30 days: payments, mean and max amount_eur; the seconds
  since the user's previous payment (any day); and the baseline, the mean over the 30 days
  but the newest BASELINE_SKIP_DAYS, so a spree of the last days does not raise its own bar;
- per merchant (terminal), over the last 1, 7 and 30 days: payments; and from the fraud
  labels known (labelled_at) before the payment's day began, whose payment fell in the last
  `window_days` days: how many (`terminal_frauds`), their share of the terminal's payments on
  the window's days up to the newest such fraud's day (`terminal_fraud_rate`, 0.0 without a
  known fraud: days the labels cannot cover yet do not dilute it), the days since that newest
  fraud (`terminal_days_since_fraud`) and how late those labels came on average
  (`terminal_label_lag_days`, event time to labelled_at): the risky_terminal rule lets a
  terminal go once its newest known fraud is older than that lateness plus `fade_days`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakehouse.rules import Rule

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PROFILE_DAYS = (1, 7, 30)
BASELINE_SKIP_DAYS = 7
"""The newest days the baseline leaves out: days 8 to 30 before a payment's day."""
FEATURE_COLUMNS = (
    *(f"user_payments_{d}d" for d in PROFILE_DAYS),
    *(f"user_mean_eur_{d}d" for d in PROFILE_DAYS),
    *(f"user_max_eur_{d}d" for d in PROFILE_DAYS), "user_baseline_eur",
    "seconds_since_previous", "category_factor", "user_expected_eur",
    *(f"merchant_payments_{d}d" for d in PROFILE_DAYS),
    "terminal_payments", "terminal_frauds", "terminal_fraud_rate", "terminal_days_since_fraud",
    "terminal_label_lag_days",
)
"""The columns with_features adds to each payment."""


@dataclass(frozen=True)
class TerminalWindow:
    """Which days a terminal's known frauds count from: the `window_days` whole days before the
    payment's day."""

    window_days: int = 10

    @classmethod
    def of(cls, rules: dict[str, Rule]) -> TerminalWindow:
        """The window the risky_terminal rule names, or the default when it is absent."""
        rule = rules.get("risky_terminal")
        if rule is None:
            return cls()
        return cls(int(rule.param("window_days")))

    @property
    def history_days(self) -> int:
        """How many whole days before a payment's day any feature reads."""
        return max(max(PROFILE_DAYS), self.window_days)


def user_profiles(payments: DataFrame, history: DataFrame) -> DataFrame:
    """Per payment, the user's payments, mean and max amount_eur over the last 1, 7 and 30
    whole days, and the baseline mean (null means and max without history)."""
    from pyspark.sql import functions as F

    daily = history.groupBy(F.col("user_id").alias("d_user"), F.col("event_date").alias("day")).agg(
        F.count("*").alias("n"), F.sum("amount_eur").alias("eur"),
        F.max("amount_eur").alias("top"))
    keys = payments.select("user_id", "event_date").distinct()
    joined = keys.join(daily, (keys.user_id == daily.d_user)
                       & (daily.day < keys.event_date)
                       & (daily.day >= F.date_sub(keys.event_date, max(PROFILE_DAYS))), "left")
    measures = []
    for days in PROFILE_DAYS:
        inside = daily.day >= F.date_sub(keys.event_date, days)
        count = F.coalesce(F.sum(F.when(inside, daily.n)), F.lit(0)).cast("long")
        total = F.sum(F.when(inside, daily.eur))
        measures += [count.alias(f"user_payments_{days}d"),
                     (total / F.nullif(count, F.lit(0))).cast("decimal(18,2)").alias(
                         f"user_mean_eur_{days}d"),
                     F.max(F.when(inside, daily.top)).alias(f"user_max_eur_{days}d")]
    before = daily.day < F.date_sub(keys.event_date, BASELINE_SKIP_DAYS)
    measures.append((F.sum(F.when(before, daily.eur))
                     / F.nullif(F.sum(F.when(before, daily.n)), F.lit(0))).cast(
                         "decimal(18,2)").alias("user_baseline_eur"))
    return joined.groupBy(keys.user_id, keys.event_date).agg(*measures)


def seconds_since_previous(history: DataFrame) -> DataFrame:
    """transaction_id -> seconds since the same user's previous payment in `history`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.partitionBy("user_id").orderBy(F.unix_millis("event_time"), "transaction_id")
    previous = F.lag(F.unix_millis("event_time")).over(order)
    return history.select(
        "transaction_id",
        ((F.unix_millis("event_time") - previous) / 1000.0).alias("seconds_since_previous"))


def merchant_activity(payments: DataFrame, history: DataFrame, labels: DataFrame,
                      window: TerminalWindow) -> DataFrame:
    """Per (merchant, day) of the payments: its payments over the last 1, 7 and 30 whole days,
    and the terminal features of the frauds known before that day (module docstring)."""
    from pyspark.sql import functions as F

    daily = history.groupBy(F.col("merchant_id").alias("d_merchant"),
                            F.col("event_date").alias("day")).agg(F.count("*").alias("n"))
    frauds = (labels.where(F.col("label") == "fraud").select("transaction_id", "labelled_at")
              .join(history.select("transaction_id", "merchant_id", "event_date", "event_time"),
                    "transaction_id")
              .select(F.col("merchant_id").alias("f_merchant"),
                      F.col("event_date").alias("f_day"), "labelled_at",
                      (F.unix_millis("labelled_at") - F.unix_millis("event_time")).alias(
                          "f_lag_ms")))
    keys = payments.select("merchant_id", "event_date").distinct()
    far = F.date_sub(keys.event_date, window.window_days)
    known = keys.join(frauds, (keys.merchant_id == frauds.f_merchant)
                      & (frauds.f_day >= far) & (frauds.f_day < keys.event_date)
                      & (frauds.labelled_at < F.to_timestamp(keys.event_date))
                      ).groupBy(keys.merchant_id, keys.event_date).agg(
        F.count("*").alias("terminal_frauds"), F.max("f_day").alias("newest_fraud_day"),
        F.sum("f_lag_ms").alias("lag_ms"))
    keyed = keys.join(known, ["merchant_id", "event_date"], "left")
    joined = keyed.join(daily, (keyed.merchant_id == daily.d_merchant)
                        & (daily.day < keyed.event_date)
                        & (daily.day >= F.date_sub(keyed.event_date, window.history_days)),
                        "left")
    covered = ((daily.day >= F.date_sub(keyed.event_date, window.window_days))
               & (daily.day <= keyed.newest_fraud_day))
    counts = joined.groupBy(keyed.merchant_id, keyed.event_date).agg(
        *[F.coalesce(F.sum(F.when(daily.day >= F.date_sub(keyed.event_date, days), daily.n)),
                     F.lit(0)).cast("long").alias(f"merchant_payments_{days}d")
          for days in PROFILE_DAYS],
        F.coalesce(F.sum(F.when(covered, daily.n)), F.lit(0)).cast("long").alias(
            "terminal_payments"),
        F.coalesce(F.max(keyed.terminal_frauds), F.lit(0)).cast("long").alias(
            "terminal_frauds"),
        F.max(keyed.newest_fraud_day).alias("newest_fraud_day"),
        F.max(keyed.lag_ms).alias("lag_ms"))
    return (counts
            .withColumn("terminal_fraud_rate", F.coalesce(
                F.col("terminal_frauds") / F.nullif("terminal_payments", F.lit(0)), F.lit(0.0)))
            .withColumn("terminal_days_since_fraud",
                        F.datediff("event_date", "newest_fraud_day").cast("long"))
            .withColumn("terminal_label_lag_days", F.round(
                F.col("lag_ms") / F.col("terminal_frauds") / F.lit(86_400_000.0), 4))
            .drop("newest_fraud_day", "lag_ms"))


def with_features(payments: DataFrame, history: DataFrame, labels: DataFrame,
                  window: TerminalWindow, factors: Mapping[str, float]) -> DataFrame:
    """The payments with every FEATURE_COLUMNS column; `history` must hold the
    `window.history_days` whole days before the first payment's day (and the payments);
    `factors`: MCC -> category factor (lakehouse.reference_stats.load_category_factors)."""
    from pyspark.sql import functions as F

    users = user_profiles(payments, history)
    merchants = merchant_activity(payments, history, labels, window)
    gaps = seconds_since_previous(history)
    by_category = F.create_map(*[item for mcc, value in sorted(factors.items())
                                 for item in (F.lit(mcc), F.lit(float(value)))])
    factor = (F.coalesce(F.try_element_at(by_category, F.col("merchant_category")), F.lit(1.0))
              if factors else F.lit(1.0))
    return (payments.join(users, ["user_id", "event_date"], "left")
            .join(merchants, ["merchant_id", "event_date"], "left")
            .join(gaps, "transaction_id", "left")
            .withColumn("category_factor", factor)
            .withColumn("user_expected_eur",
                        (F.coalesce("user_baseline_eur", "user_mean_eur_30d")
                         * F.col("category_factor").cast(
                            "decimal(10,4)")).cast("decimal(18,2)")))
