"""Fraud and velocity rules: pure DataFrame functions shared by the stream and the backfill.

Each rule takes silver rows (the rows to judge plus the history they need) and
returns one alert row per triggering payment, with a deterministic alert_id
(hash of rule id and transaction id). Every rule is monotone: adding payments
can only add alerts. The batch backfill and the backtest run these functions
over silver; the streaming queries judge the same rules (instant: these very
expressions; stateful: the Java processor), and the stream = batch tests hold
both to the same alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from lakehouse import PROJECT_ROOT
from lakehouse.errors import PaystreamError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

RULES_PATH = PROJECT_ROOT / "config" / "rules.yaml"
SEVERITIES = ("low", "medium", "high", "critical")
CARRIED_COLUMNS = ("payment_kafka_time",)
"""Columns an alert keeps when the judged rows have them (the streaming queries' latency clock)."""
ALERT_COLUMNS = ("alert_id", "rule_id", "severity", "transaction_id", "user_id", "merchant_id",
                 "amount_eur", "event_time", "event_date", "detected_at", "details")


@dataclass(frozen=True)
class Rule:
    """One rule from config/rules.yaml."""

    rule_id: str
    severity: str
    enabled: bool
    params: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Any:
        """A parameter, or a one-line error naming the rule and the key."""
        try:
            return self.params[name]
        except KeyError as error:
            raise PaystreamError(
                f"rule {self.rule_id} in config/rules.yaml lacks {name}") from error


def load_rules(path: Path = RULES_PATH) -> dict[str, Rule]:
    """Every rule in the rules file, enabled or not."""
    document = yaml.safe_load(path.read_text())
    rules = {}
    for rule_id, entry in document["rules"].items():
        if entry.get("severity") not in SEVERITIES:
            raise PaystreamError(f"rule {rule_id}: severity must be one of {', '.join(SEVERITIES)}")
        rules[rule_id] = Rule(rule_id, entry["severity"], bool(entry.get("enabled", True)),
                              dict(entry.get("params") or {}))
    unknown = set(rules) - set(RULE_FUNCTIONS)
    if unknown:
        raise PaystreamError(f"config/rules.yaml names unknown rules: {', '.join(sorted(unknown))}")
    return rules


INSTANT_RULES = ("high_amount",)
"""Rules that judge one payment alone (no history): the real-time instant query runs them."""

USER_RULES = ("velocity", "card_testing", "impossible_travel")
"""Rules over one user's recent payments: the stateful query runs them on keyed state."""

MERCHANT_RULES = ("compromised_merchant",)
"""Rules over one merchant's recent payments: the stateful query runs them too."""


BEHAVIOUR_RULES = ("amount_vs_profile", "risky_terminal")
"""Rules over behavioural features (lakehouse.behaviour): days of per-user and per-merchant
history and the fraud labels. The stateful query judges them on its profiles; the batch
(backfill, backtest) on features computed from silver and gold.labels."""

STREAMED_RULES = INSTANT_RULES + USER_RULES + MERCHANT_RULES + BEHAVIOUR_RULES
"""Every rule a streaming alert query judges; the alert sinks carry their alerts."""


def instant_rules(rules: dict[str, Rule]) -> dict[str, Rule]:
    """The enabled rules that need no history."""
    return {k: r for k, r in rules.items() if k in INSTANT_RULES and r.enabled}


def elevated_ticket_eur(rule: Rule) -> dict[str, Decimal]:
    """MCC -> the amount from which a payment counts as elevated for compromised_merchant."""
    from lakehouse.mcc import merchant_categories

    multiple = Decimal(str(rule.param("ticket_multiple")))
    return {c.mcc: c.typical_ticket_eur * multiple for c in merchant_categories().values()}


def lookback_seconds(rules: dict[str, Rule]) -> int:
    """How much history before a payment any enabled rule needs."""
    needs = [0]
    for rule in rules.values():
        if not rule.enabled:
            continue
        if "window_seconds" in rule.params:
            needs.append(int(rule.params["window_seconds"]))
        if "lookback_hours" in rule.params:
            needs.append(int(float(rule.params["lookback_hours"]) * 3600))
    return max(needs)


# ---- helpers ----------------------------------------------------------------------------


def _event_ms() -> Column:
    from pyspark.sql import functions as F

    return F.unix_millis(F.col("event_time"))


def _alerts(rows: DataFrame, rule: Rule, details: Column, detected_at: Column) -> DataFrame:
    """Shape triggering rows as alerts (with the payment's Kafka time, when the rows carry it)."""
    from pyspark.sql import functions as F

    carried = [c for c in CARRIED_COLUMNS if c in rows.columns]
    return rows.select(
        F.substring(F.sha2(F.concat_ws(":", F.lit(rule.rule_id), F.col("transaction_id")), 256),
                    1, 32).alias("alert_id"),
        F.lit(rule.rule_id).alias("rule_id"),
        F.lit(rule.severity).alias("severity"),
        "transaction_id", "user_id", "merchant_id", "amount_eur", "event_time", "event_date",
        detected_at.alias("detected_at"),
        F.to_json(details).alias("details"),
        *carried,
    )


def _haversine_km(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    from pyspark.sql import functions as F

    dlat = F.radians(lat2 - lat1)
    dlon = F.radians(lon2 - lon1)
    a = (F.sin(dlat / 2) ** 2
         + F.cos(F.radians(lat1)) * F.cos(F.radians(lat2)) * F.sin(dlon / 2) ** 2)
    return F.lit(2 * 6371.0088) * F.asin(F.sqrt(a))


# ---- the rules ----------------------------------------------------------------------------


def high_amount(rows: DataFrame, rule: Rule, detected_at: Column) -> DataFrame:
    """A payment whose amount_eur is above the threshold."""
    from pyspark.sql import functions as F

    threshold = Decimal(str(rule.param("threshold_eur")))
    hits = rows.where(F.col("amount_eur") > F.lit(threshold))
    return _alerts(hits, rule, F.struct(F.lit(str(threshold)).alias("threshold_eur")), detected_at)


def velocity(rows: DataFrame, rule: Rule, detected_at: Column) -> DataFrame:
    """The payment that makes more than N payments by one user within W seconds (and each after)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    limit, window_ms = int(rule.param("max_payments")), int(rule.param("window_seconds")) * 1000
    trailing = (Window.partitionBy("user_id").orderBy(_event_ms())
                .rangeBetween(-window_ms, 0))
    counted = rows.withColumn("payments_in_window", F.count(F.lit(1)).over(trailing))
    hits = counted.where(F.col("payments_in_window") > limit)
    details = F.struct(F.col("payments_in_window"), F.lit(limit).alias("max_payments"),
                       F.lit(window_ms // 1000).alias("window_seconds"))
    return _alerts(hits, rule, details, detected_at)


def card_testing(rows: DataFrame, rule: Rule, detected_at: Column) -> DataFrame:
    """A tiny online payment that makes a user's tiny payments span many distinct merchants."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ceiling = Decimal(str(rule.param("max_amount_eur")))
    need = int(rule.param("min_distinct_merchants"))
    window_ms = int(rule.param("window_seconds")) * 1000
    tiny = rows.where((F.col("amount_eur") <= F.lit(ceiling)) & (F.col("channel") == "ecommerce"))
    trailing = (Window.partitionBy("user_id").orderBy(_event_ms())
                .rangeBetween(-window_ms, 0))
    counted = tiny.withColumn("distinct_merchants",
                              F.size(F.collect_set("merchant_id").over(trailing)))
    hits = counted.where(F.col("distinct_merchants") >= need)
    details = F.struct(F.col("distinct_merchants"), F.lit(str(ceiling)).alias("max_amount_eur"))
    return _alerts(hits, rule, details, detected_at)


def impossible_travel(rows: DataFrame, rule: Rule, detected_at: Column) -> DataFrame:
    """A card-present payment too far from an earlier one of the same user for the time between."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    max_kmh = float(rule.param("max_speed_kmh"))
    min_km = float(rule.param("min_distance_km"))
    lookback_ms = int(float(rule.param("lookback_hours")) * 3_600_000)
    present = rows.where(F.col("channel").isin("pos", "contactless", "atm")).withColumn(
        "ms", _event_ms())
    earlier = (Window.partitionBy("user_id").orderBy("ms").rangeBetween(-lookback_ms, 0))
    with_history = present.withColumn(
        "history",
        F.collect_list(F.struct("transaction_id", "ms", "lat", "lon", "city")).over(earlier),
    )
    candidates = F.filter(
        "history",
        lambda h: (h["transaction_id"] != F.col("transaction_id"))
        & (_haversine_km(h["lat"], h["lon"], F.col("lat"), F.col("lon")) >= F.lit(min_km))
        & (_haversine_km(h["lat"], h["lon"], F.col("lat"), F.col("lon"))
           / F.greatest((F.col("ms") - h["ms"]) / F.lit(3_600_000.0), F.lit(1 / 3600))
           > F.lit(max_kmh)),
    )
    hits = with_history.withColumn("conflicts", candidates).where(F.size("conflicts") > 0)
    first = F.element_at("conflicts", 1)
    distance = _haversine_km(first["lat"], first["lon"], F.col("lat"), F.col("lon"))
    hours = F.greatest((F.col("ms") - first["ms"]) / F.lit(3_600_000.0), F.lit(1 / 3600))
    details = F.struct(
        first["transaction_id"].alias("previous_transaction_id"),
        first["city"].alias("previous_city"), F.col("city"),
        F.round(distance, 1).alias("distance_km"), F.round(distance / hours, 1).alias("speed_kmh"),
    )
    return _alerts(hits, rule, details, detected_at)


def compromised_merchant(rows: DataFrame, rule: Rule, detected_at: Column) -> DataFrame:
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
    trailing = (Window.partitionBy("merchant_id").orderBy(_event_ms())
                .rangeBetween(-window_ms, 0))
    counted = elevated.withColumn("distinct_cards", F.size(F.collect_set("card_id").over(trailing)))
    hits = counted.where(F.col("distinct_cards") >= need)
    details = F.struct(F.col("distinct_cards"), F.lit(str(multiple)).alias("ticket_multiple"))
    return _alerts(hits, rule, details, detected_at)


def _needs_features(rows: DataFrame, rule: Rule, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise PaystreamError(f"rule {rule.rule_id} needs the behavioural features "
                             f"(lakehouse.behaviour.with_features); missing {', '.join(missing)}")


def amount_vs_profile(rows: DataFrame, rule: Rule, detected_at: Column) -> DataFrame:
    """A payment far above what its user usually spends at this kind of merchant
    (user_expected_eur: the baseline mean scaled by the category), for a user with enough
    history."""
    from pyspark.sql import functions as F

    _needs_features(rows, rule, ("user_payments_30d", "user_mean_eur_30d", "user_expected_eur"))
    multiple = Decimal(str(rule.param("multiple")))
    history = int(rule.param("min_history"))
    floor = Decimal(str(rule.param("min_amount_eur")))
    hits = rows.where((F.col("user_payments_30d") >= history)
                      & (F.col("amount_eur") >= F.lit(floor))
                      & (F.col("amount_eur") > F.col("user_expected_eur") * F.lit(multiple)))
    details = F.struct(F.col("user_expected_eur").cast("string").alias("user_expected_eur"),
                       F.col("user_mean_eur_30d").cast("string").alias("user_mean_eur_30d"),
                       F.col("user_payments_30d"), F.lit(str(multiple)).alias("multiple"))
    return _alerts(hits, rule, details, detected_at)


def risky_terminal(rows: DataFrame, rule: Rule, detected_at: Column) -> DataFrame:
    """A payment at a merchant whose known confirmed-fraud rate, over a window that ends a delay
    before the payment's day, is high on enough frauds."""
    from pyspark.sql import functions as F

    _needs_features(rows, rule, ("terminal_frauds", "terminal_fraud_rate"))
    hits = rows.where((F.col("terminal_frauds") >= int(rule.param("min_frauds")))
                      & (F.col("terminal_fraud_rate") >= float(rule.param("min_fraud_rate"))))
    details = F.struct(F.round("terminal_fraud_rate", 4).alias("terminal_fraud_rate"),
                       F.col("terminal_frauds"), F.col("terminal_payments"),
                       F.lit(int(rule.param("delay_days"))).alias("delay_days"))
    return _alerts(hits, rule, details, detected_at)


RULE_FUNCTIONS = {
    "high_amount": high_amount,
    "velocity": velocity,
    "card_testing": card_testing,
    "impossible_travel": impossible_travel,
    "compromised_merchant": compromised_merchant,
    "amount_vs_profile": amount_vs_profile,
    "risky_terminal": risky_terminal,
}


def evaluate_rules(rows: DataFrame, rules: dict[str, Rule], detected_at: Column) -> DataFrame:
    """Every enabled rule over the rows, as one DataFrame of alerts."""
    from functools import reduce

    from pyspark.sql import functions as F

    frames = [RULE_FUNCTIONS[rule_id](rows, rule, detected_at)
              for rule_id, rule in rules.items() if rule.enabled]
    if not frames:  # an empty frame of the alert shape
        return _alerts(rows.limit(0), Rule("none", "low", False), F.struct(F.lit(0)), detected_at)
    return reduce(lambda a, b: a.unionByName(b), frames)
