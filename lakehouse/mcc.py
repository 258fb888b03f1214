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
