"""What every rule shares: the Rule entry of the rules file, the alert shape, and Spark helpers.

A rule module (lakehouse/rules/RULE.py) declares its RULE_ID, its FAMILY (which query judges
it), a pydantic `Params` model (the parameters the rules file must give it) and
`alerts(rows, rule, detected_at)`, the Spark expression; its golden cases are
tests/golden_rules/RULE.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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

Family = Literal["instant", "user", "merchant", "behaviour"]
"""Which query judges a rule: instant (one payment alone, real-time), user and merchant (keyed
state over recent payments, the stateful query), behaviour (days of profiles and labels)."""


PositiveDecimal = Annotated[Decimal, Field(gt=0)]
"""An amount above zero (money is never a float: the rules file gives it as a string)."""
NonNegativeDecimal = Annotated[Decimal, Field(ge=0)]
"""An amount of zero or more."""


class RuleParams(BaseModel):
    """The base of every rule's parameter model: unknown keys are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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


def event_ms() -> Column:
    """The payment's event time in epoch milliseconds (what the windows order by)."""
    from pyspark.sql import functions as F

    return F.unix_millis(F.col("event_time"))


def shape_alerts(rows: DataFrame, rule: Rule, details: Column, detected_at: Column) -> DataFrame:
    """Triggering rows as alerts (with the payment's Kafka time, when the rows carry it)."""
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


def haversine_km(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    """The great-circle distance between two points, in kilometres."""
    from pyspark.sql import functions as F

    dlat = F.radians(lat2 - lat1)
    dlon = F.radians(lon2 - lon1)
    a = (F.sin(dlat / 2) ** 2
         + F.cos(F.radians(lat1)) * F.cos(F.radians(lat2)) * F.sin(dlon / 2) ** 2)
    return F.lit(2 * 6371.0088) * F.asin(F.sqrt(a))


def needs_features(rows: DataFrame, rule: Rule, columns: tuple[str, ...]) -> None:
    """Fail in one line when the rows lack the behavioural features a rule reads."""
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise PaystreamError(f"rule {rule.rule_id} needs the behavioural features "
                             f"(lakehouse.behaviour.with_features); missing {', '.join(missing)}")
