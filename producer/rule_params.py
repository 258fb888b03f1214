"""The rule parameters the producer must cross, read from config/rules.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from lakehouse.rules import RULES_PATH


@dataclass(frozen=True)
class ScenarioParams:
    """Thresholds that injected scenarios exceed and legit traffic stays under."""

    high_amount_eur: Decimal = Decimal("5000.00")
    velocity_max_payments: int = 5
    velocity_window_s: int = 60
    card_testing_max_eur: Decimal = Decimal("2.00")
    card_testing_min_merchants: int = 4
    card_testing_window_s: int = 300
    travel_max_speed_kmh: float = 900.0
    travel_min_distance_km: float = 500.0
    merchant_min_users: int = 6
    merchant_ticket_multiple: float = 2.0
    merchant_window_s: int = 900


def load_scenario_params(path: Path = RULES_PATH) -> ScenarioParams:
    """The rule parameters the scenarios are built around, via lakehouse.rules.load_rules."""
    from lakehouse.rules import load_rules

    rules = load_rules(path)

    def param(rule: str, key: str) -> str:
        return str(rules[rule].param(key))

    return ScenarioParams(
        high_amount_eur=Decimal(param("high_amount", "threshold_eur")),
        velocity_max_payments=int(param("velocity", "max_payments")),
        velocity_window_s=int(param("velocity", "window_seconds")),
        card_testing_max_eur=Decimal(param("card_testing", "max_amount_eur")),
        card_testing_min_merchants=int(param("card_testing", "min_distinct_merchants")),
        card_testing_window_s=int(param("card_testing", "window_seconds")),
        travel_max_speed_kmh=float(param("impossible_travel", "max_speed_kmh")),
        travel_min_distance_km=float(param("impossible_travel", "min_distance_km")),
        merchant_min_users=int(param("compromised_merchant", "min_distinct_users")),
        merchant_ticket_multiple=float(param("compromised_merchant", "ticket_multiple")),
        merchant_window_s=int(param("compromised_merchant", "window_seconds")),
    )
