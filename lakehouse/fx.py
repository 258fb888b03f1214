"""FX tables: EUR per unit of each accepted currency, read from a CSV (currency,eur_per_unit).

The packaged table (lakehouse/reference/fx_rates_eur.csv) prices the producer's events and is
the default of `Settings.fx_rates_file`, the table the pipeline reads: its currencies are the
ones the contract accepts (any other is quarantined as unknown_currency) and silver normalises
amounts to EUR with its rates. Adding a row there, then replaying the quarantined records
(`paystream quarantine replay --reason unknown_currency`), lands them.
"""

from __future__ import annotations

import csv
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from lakehouse.errors import PaystreamError

FX_TABLE_PATH = Path(__file__).parent / "reference" / "fx_rates_eur.csv"
CENT = Decimal("0.01")
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")


@cache
def fx_table(path: Path = FX_TABLE_PATH) -> dict[str, Decimal]:
    """Currency code -> EUR per one unit, from a CSV with columns currency and eur_per_unit;
    a row that is not an ISO 4217-shaped code with a positive rate fails in one line."""
    rates: dict[str, Decimal] = {}
    try:
        with open(path, newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                code, rate = (row.get("currency") or "").strip(), row.get("eur_per_unit")
                try:
                    value = Decimal(str(rate).strip())
                except InvalidOperation:
                    value = Decimal(0)
                if not CURRENCY_CODE.match(code) or not value > 0:
                    raise PaystreamError(f"{path} line {number}: expected a currency code such "
                                         f"as EUR and a positive eur_per_unit, got {row}")
                rates[code] = value
    except OSError as error:
        raise PaystreamError(f"cannot read the FX table {path}: {error.strerror}") from None
    if not rates:
        raise PaystreamError(f"{path}: no currencies (columns currency,eur_per_unit)")
    return rates


def eur_per_unit() -> dict[str, Decimal]:
    """Currency code -> EUR per one unit of that currency, from the packaged table."""
    return fx_table(FX_TABLE_PATH)


def to_eur(amount: Decimal, currency: str) -> Decimal:
    """Convert an amount to EUR with the packaged table, rounded half-even to cents."""
    return (amount * eur_per_unit()[currency]).quantize(CENT, rounding=ROUND_HALF_EVEN)


def from_eur(amount_eur: Decimal, currency: str) -> Decimal:
    """Convert an EUR amount into a currency with the packaged table, rounded half-even."""
    return (amount_eur / eur_per_unit()[currency]).quantize(CENT, rounding=ROUND_HALF_EVEN)
