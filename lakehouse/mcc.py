"""Reference data per merchant category code (MCC): typical ticket in EUR and where it sells.

One table (`lakehouse/reference/mcc_tickets.csv`) serves the producer, which
prices synthetic payments with it, and the compromised-merchant rule, which
flags payments far above their category's typical ticket.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

MCC_TABLE_PATH = Path(__file__).parent / "reference" / "mcc_tickets.csv"


@dataclass(frozen=True)
class MerchantCategory:
    """One MCC: description, typical ticket in EUR, online/in-person, share of merchants."""

    mcc: str
    description: str
    typical_ticket_eur: Decimal
    online: bool
    in_person: bool
    weight: float


@cache
def merchant_categories() -> dict[str, MerchantCategory]:
    """MCC -> its reference row."""
    with open(MCC_TABLE_PATH, newline="") as handle:
        return {
            row["mcc"]: MerchantCategory(
                mcc=row["mcc"], description=row["description"],
                typical_ticket_eur=Decimal(row["typical_ticket_eur"]),
                online=row["online"] == "true", in_person=row["in_person"] == "true",
                weight=float(row["weight"]),
            )
            for row in csv.DictReader(handle)
        }


@cache
def mean_ticket_eur() -> float:
    """The typical ticket over all categories, each weighted by its share of merchants."""
    categories = merchant_categories().values()
    return (sum(float(c.typical_ticket_eur) * c.weight for c in categories)
            / sum(c.weight for c in categories))


@cache
def category_factors() -> dict[str, float]:
    """MCC -> its typical ticket over the mean ticket, to 4 places: what scales a user's mean
    spend to what they would usually spend in that category (1.0 for a category not listed)."""
    mean = mean_ticket_eur()
    return {mcc: round(float(c.typical_ticket_eur) / mean, 4)
            for mcc, c in merchant_categories().items()}
