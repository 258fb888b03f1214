"""The risk score: an explainable weighted sum, and the routing of a payment by its bands.

Each rule that fired on a payment adds its weight; two graded features add up to theirs:
how far the amount is above what the user usually spends at this kind of merchant
(lakehouse.behaviour's user_expected_eur: 0 at it, the full weight at `full_ratio` times
it) and the terminal's known fraud rate (full at `full_rate`). The score is the sum capped
at 1; its explanation is the contributions, largest first. A score at or above
`bands.block` blocks, at or above `bands.review` goes to review, below it approves. The
weights live in the rules file's `risk:` section, beside the rules they weigh.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from lakehouse.errors import PaystreamError

if TYPE_CHECKING:
    from pyspark.sql import Column

GRADED_FEATURES = ("amount_vs_profile_ratio", "terminal_fraud_rate")
MODEL_REPLACES = ("rule:amount_vs_profile", "rule:risky_terminal", *GRADED_FEATURES)
"""By default the live model's part replaces the behavioural parts of the score."""
TOP_CONTRIBUTIONS = 3
"""How many contributions a decision carries as its explanation (Behaviour.java keeps 3 too)."""


@dataclass(frozen=True)
class RiskConfig:
    """The `risk:` section of a rules file."""

    rule_weights: dict[str, float] = field(default_factory=dict)
    feature_weights: dict[str, float] = field(default_factory=dict)
    full_ratio: float = 10.0
    full_rate: float = 0.5
    review: float = 0.5
    block: float = 0.8
    model_weight: float = 1.0
    """What the live risk model adds at its review threshold, as a share of the review band
    (spark_jobs.risk_model); no model is live until one is trained and promoted."""
    model_replaces: tuple[str, ...] = MODEL_REPLACES
    """The parts (`rule:<id>` or a graded feature) the live model's part stands in for: the
    model reads the same features and hits, so they are not counted twice."""

    def without_replaced(self) -> RiskConfig:
        """This config with the weights of the parts the model replaces set to 0."""
        rules = {k: 0.0 if f"rule:{k}" in self.model_replaces else v
                 for k, v in self.rule_weights.items()}
        features = {k: 0.0 if k in self.model_replaces else v
                    for k, v in self.feature_weights.items()}
        return replace(self, rule_weights=rules, feature_weights=features)


def load_risk(path: Path) -> RiskConfig:
    """The risk section of a rules file, or a one-line error naming what is wrong."""
    return parse_risk(yaml.safe_load(path.read_text()), path.name)


def parse_risk(document: Any, source: str) -> RiskConfig:
    """The risk section of a parsed rules document, or a one-line error naming the source
    and what is wrong."""
    section: dict[str, Any] = (document if isinstance(document, dict) else {}).get("risk") or {}
    bands = section.get("bands") or {}
    unknown = set(section.get("feature_weights") or {}) - set(GRADED_FEATURES)
    if unknown:
        raise PaystreamError(f"{source}: risk.feature_weights names unknown features "
                             f"{', '.join(sorted(unknown))} (known: {', '.join(GRADED_FEATURES)})")
    try:
        config = RiskConfig(
            {k: float(v) for k, v in (section.get("rule_weights") or {}).items()},
            {k: float(v) for k, v in (section.get("feature_weights") or {}).items()},
            float(section.get("full_ratio", 10.0)), float(section.get("full_rate", 0.5)),
            float(bands.get("review", 0.5)), float(bands.get("block", 0.8)),
            float(section.get("model_weight", 1.0)),
            tuple(str(p) for p in section.get("model_replaces", MODEL_REPLACES) or ()))
    except (TypeError, ValueError, AttributeError) as error:
        raise PaystreamError(f"{source}: risk: a weight or band is not a number ({error})") \
            from None
    if not 0 < config.review <= config.block <= 1:
        raise PaystreamError(f"{source}: risk.bands need 0 < review <= block <= 1")
    from lakehouse.rules import RULE_MODULES

    known = {f"rule:{r}" for r in (*RULE_MODULES, *config.rule_weights)} | set(GRADED_FEATURES)
    strange = set(config.model_replaces) - known
    if strange:
        raise PaystreamError(f"{source}: risk.model_replaces names {', '.join(sorted(strange))}"
                             f" (known: {', '.join(sorted(known))})")
    if config.model_weight < 0:
        raise PaystreamError(f"{source}: risk.model_weight must be 0 or more")
    if config.full_ratio <= 1 or config.full_rate <= 0:
        raise PaystreamError(f"{source}: risk.full_ratio must exceed 1, full_rate 0")
    return config


def graded(value: float | None, zero_at: float, full_at: float) -> float:
    """0 at or below zero_at, 1 at or above full_at, linear between (pure)."""
    if value is None:
        return 0.0
    return min(1.0, max(0.0, (value - zero_at) / (full_at - zero_at)))


def contributions(config: RiskConfig, fired: list[str], amount_ratio: float | None,
                  fraud_rate: float | None, places: int | None = 4) -> list[tuple[str, float]]:
    """What each fired rule and graded feature adds, largest first, zeros left out, to
    `places` decimals (None: unrounded) (pure)."""
    parts = [(f"rule:{rule_id}", config.rule_weights.get(rule_id, 0.0))
             for rule_id in sorted(set(fired))]
    weights = config.feature_weights
    parts.append(("amount_vs_profile_ratio", weights.get("amount_vs_profile_ratio", 0.0)
                  * graded(amount_ratio, 1.0, config.full_ratio)))
    parts.append(("terminal_fraud_rate", weights.get("terminal_fraud_rate", 0.0)
                  * graded(fraud_rate, 0.0, config.full_rate)))
    kept = [(name, value if places is None else round(value, places))
            for name, value in parts if value > 0]
    return sorted(kept, key=lambda item: (-item[1], item[0]))


def decide(config: RiskConfig, score: float) -> str:
    """approve, review or block for a score (pure)."""
    return "block" if score >= config.block else "review" if score >= config.review else "approve"


def risk_score(config: RiskConfig, fired: list[str], amount_ratio: float | None,
               fraud_rate: float | None) -> float:
    """The score: the unrounded contributions' sum capped at 1, to 4 places (pure)."""
    return round(min(1.0, sum(v for _, v in contributions(config, fired, amount_ratio,
                                                           fraud_rate, None))), 4)


# ---- the same as Spark columns -------------------------------------------------------------


def _graded_column(value: Column, zero_at: float, full_at: float) -> Column:
    from pyspark.sql import functions as F

    return F.coalesce(F.least(F.lit(1.0), F.greatest(
        F.lit(0.0), (value.cast("double") - F.lit(zero_at)) / F.lit(full_at - zero_at))),
        F.lit(0.0))


def contributions_column(config: RiskConfig, fired: Column, amount_ratio: Column,
                         fraud_rate: Column) -> Column:
    """contributions(places=None) as an array<struct<name, value>> column, largest first
    (rounded_contributions() rounds it for display)."""
    from pyspark.sql import functions as F

    weights = config.feature_weights
    rule_parts = [F.when(F.array_contains(fired, rule_id),
                         F.struct(F.lit(f"rule:{rule_id}").alias("name"),
                                  F.lit(weight).alias("value")))
                  for rule_id, weight in sorted(config.rule_weights.items())]
    feature_parts = [
        F.struct(F.lit("amount_vs_profile_ratio").alias("name"),
                 (F.lit(weights.get("amount_vs_profile_ratio", 0.0))
                  * _graded_column(amount_ratio, 1.0, config.full_ratio)).alias("value")),
        F.struct(F.lit("terminal_fraud_rate").alias("name"),
                 (F.lit(weights.get("terminal_fraud_rate", 0.0))
                  * _graded_column(fraud_rate, 0.0, config.full_rate)).alias("value")),
    ]
    parts = F.array(*rule_parts, *feature_parts)
    return largest_first(F.filter(parts, lambda p: p.isNotNull() & (p["value"] > 0)))


def largest_first(parts: Column) -> Column:
    """A contributions column sorted largest value first, ties by name (as contributions())."""
    from pyspark.sql import functions as F

    return F.array_sort(parts, lambda a, b: F.when(a["value"] > b["value"], -1)
                        .when(a["value"] < b["value"], 1)
                        .when(a["name"] < b["name"], -1)
                        .when(a["name"] > b["name"], 1).otherwise(0))


def rounded_contributions(parts: Column, places: int = 4) -> Column:
    """A contributions column with each value to `places` decimals."""
    from pyspark.sql import functions as F

    return F.transform(parts, lambda p: F.struct(p["name"].alias("name"),
                                                 F.round(p["value"], places).alias("value")))


def score_column(parts: Column) -> Column:
    """risk_score() from a contributions column."""
    from pyspark.sql import functions as F

    total = F.aggregate(parts, F.lit(0.0), lambda acc, p: acc + p["value"])
    return F.round(F.least(F.lit(1.0), total), 4)


def decision_column(config: RiskConfig, score: Column) -> Column:
    """decide() as a column."""
    from pyspark.sql import functions as F

    return (F.when(score >= config.block, "block").when(score >= config.review, "review")
            .otherwise("approve"))
