"""The one reference FX table: EUR per unit of each supported currency.

The producer prices events with it and silver normalises amounts to EUR with
it; the event contract's currency enum must equal its keys (a unit test checks).
"""

from __future__ import annotations

import csv
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from pathlib import Path

FX_TABLE_PATH = Path(__file__).parent / "reference" / "fx_rates_eur.csv"
CENT = Decimal("0.01")


@cache
def eur_per_unit() -> dict[str, Decimal]:
    """Currency code -> EUR per one unit of that currency."""
    with open(FX_TABLE_PATH, newline="") as handle:
        return {row["currency"]: Decimal(row["eur_per_unit"]) for row in csv.DictReader(handle)}


def to_eur(amount: Decimal, currency: str) -> Decimal:
    """Convert an amount to EUR, rounded half-even to cents."""
    return (amount * eur_per_unit()[currency]).quantize(CENT, rounding=ROUND_HALF_EVEN)


def from_eur(amount_eur: Decimal, currency: str) -> Decimal:
    """Convert an EUR amount into a currency, rounded half-even to cents."""
    return (amount_eur / eur_per_unit()[currency]).quantize(CENT, rounding=ROUND_HALF_EVEN)
