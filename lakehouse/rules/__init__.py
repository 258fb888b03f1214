"""Fraud and velocity rules, one module each (parameters, Spark expression), and the rules file.

Each rule takes silver rows (the rows to judge plus the history they need) and returns one
alert row per triggering payment, with a deterministic alert_id (hash of rule id and
transaction id). Every rule is monotone: adding payments can only add alerts. The batch
backfill and the backtest run these functions over silver; the streaming queries judge the
same rules (instant: these very expressions; stateful: the Java processor), and the golden
cases (tests/golden_rules) and the stream = batch tests hold both engines to the same alerts.
May import: the rest of lakehouse only.
"""

from __future__ import annotations

from functools import reduce
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from lakehouse.errors import PaystreamError
from lakehouse.rules import (
    amount_vs_profile,
    card_testing,
    compromised_merchant,
    high_amount,
    impossible_travel,
    risky_terminal,
    velocity,
)
from lakehouse.rules.base import (
    ALERT_COLUMNS,
    CARRIED_COLUMNS,
    RULES_PATH,
    SEVERITIES,
    Family,
    Rule,
    shape_alerts,
)
from lakehouse.rules.compromised_merchant import elevated_ticket_eur

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["ALERT_COLUMNS", "BEHAVIOUR_RULES", "CARRIED_COLUMNS", "INSTANT_RULES",
           "MERCHANT_RULES", "RULES_PATH", "RULE_FUNCTIONS", "RULE_MODULES", "SEVERITIES",
           "STREAMED_RULES", "USER_RULES", "Rule", "elevated_ticket_eur", "evaluate_rules",
           "instant_rules", "load_rules", "lookback_seconds", "rules_of_family"]

RULE_MODULES: dict[str, ModuleType] = {module.RULE_ID: module for module in (
    high_amount, velocity, card_testing, impossible_travel, compromised_merchant,
    amount_vs_profile, risky_terminal)}
"""Every rule the project knows, by id: its module holds FAMILY, Params and alerts()."""

RULE_FUNCTIONS = {rule_id: module.alerts for rule_id, module in RULE_MODULES.items()}
"""Rule id -> its Spark expression, alerts(rows, rule, detected_at)."""


def rules_of_family(family: Family) -> tuple[str, ...]:
    """The ids of the rules one family holds, in the registry's order."""
    return tuple(rule_id for rule_id, module in RULE_MODULES.items() if family == module.FAMILY)


INSTANT_RULES = rules_of_family("instant")
"""Rules that judge one payment alone (no history): the real-time instant query runs them."""

USER_RULES = rules_of_family("user")
"""Rules over one user's recent payments: the stateful query runs them on keyed state."""

MERCHANT_RULES = rules_of_family("merchant")
"""Rules over one merchant's recent payments: the stateful query runs them too."""

BEHAVIOUR_RULES = rules_of_family("behaviour")
"""Rules over behavioural features (lakehouse.behaviour): days of per-user and per-merchant
history and the fraud labels. The stateful query judges them on its profiles; the batch
(backfill, backtest) on features computed from silver and gold.labels."""

STREAMED_RULES = INSTANT_RULES + USER_RULES + MERCHANT_RULES + BEHAVIOUR_RULES
"""Every rule a streaming alert query judges; the alert sinks carry their alerts."""


def _validation_message(error: ValidationError) -> str:
    """A pydantic error as one line: each bad field and why."""
    parts = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "params"
        reason = "is not a parameter of this rule" if item["type"] == "extra_forbidden" \
            else item["msg"].lower()
        parts.append(f"{field} {reason}")
    return "; ".join(parts)


def parse_rules(document: Any, source: str = "config/rules.yaml") -> dict[str, Rule]:
    """Every rule of a parsed rules document, each checked against its module's Params; any
    fault is a one-line PaystreamError naming the source, the rule and the field."""
    if not isinstance(document, dict) or not isinstance(document.get("rules"), dict):
        raise PaystreamError(f"{source}: expected a `rules:` mapping of rule id to rule")
    rules = {}
    for rule_id, entry in document["rules"].items():
        module = RULE_MODULES.get(rule_id)
        if module is None:
            raise PaystreamError(f"{source} names an unknown rule: {rule_id} "
                                 f"(known: {', '.join(RULE_MODULES)})")
        if not isinstance(entry, dict):
            raise PaystreamError(f"{source}: rule {rule_id} must be a mapping")
        if entry.get("severity") not in SEVERITIES:
            raise PaystreamError(f"rule {rule_id}: severity must be one of {', '.join(SEVERITIES)}")
        params = dict(entry.get("params") or {})
        upgrade = getattr(module, "upgrade_params", None)
        if upgrade is not None:
            params = upgrade(params, source)
        try:
            module.Params.model_validate(params)
        except ValidationError as error:
            raise PaystreamError(
                f"{source}: rule {rule_id}: {_validation_message(error)}") from None
        rules[rule_id] = Rule(rule_id, entry["severity"], bool(entry.get("enabled", True)),
                              params)
    return rules


def load_rules(path: Path = RULES_PATH) -> dict[str, Rule]:
    """Every rule in the rules file, enabled or not, each checked against its parameters."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise PaystreamError(f"cannot read the rules file {path}: "
                             f"{str(error).splitlines()[0]}") from None
    return parse_rules(document, str(path))


def instant_rules(rules: dict[str, Rule]) -> dict[str, Rule]:
    """The enabled rules that need no history."""
    return {k: r for k, r in rules.items() if k in INSTANT_RULES and r.enabled}


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


def evaluate_rules(rows: DataFrame, rules: dict[str, Rule], detected_at: Column) -> DataFrame:
    """Every enabled rule over the rows, as one DataFrame of alerts."""
    from pyspark.sql import functions as F

    frames = [RULE_FUNCTIONS[rule_id](rows, rule, detected_at)
              for rule_id, rule in rules.items() if rule.enabled]
    if not frames:  # an empty frame of the alert shape
        return shape_alerts(rows.limit(0), Rule("none", "low", False), F.struct(F.lit(0)),
                            detected_at)
    alerts: DataFrame = reduce(lambda a, b: a.unionByName(b), frames)
    return alerts
