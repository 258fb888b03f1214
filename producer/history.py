"""A labelled history to backtest on: generated payments as a flat CSV, and a chargeback file
whose labels arrive days after the payments, as a card issuer's do.

`paystream history` writes both; `paystream import` then lands the payments (without their
labels) and `paystream label` the chargebacks, so behavioural features only know a fraud from
the day its label arrived.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from producer.generator import GeneratorOptions, PaymentStream

COLUMNS = ("transaction_id", "user_id", "card_id", "amount", "currency", "merchant_id",
           "merchant_category", "timestamp", "country", "city", "lat", "lon", "channel",
           "fraud", "scenario")
LABEL_COLUMNS = ("transaction_id", "label", "date", "scenario")
LOCATION_MAP = "country=location.country,city=location.city,lat=location.lat,lon=location.lon"
"""The --map a flat history file needs for the contract's nested location."""


@dataclass(frozen=True)
class LabelDelay:
    """How late a fraud's label arrives: `min_days` plus an exponential of mean `mean_days`,
    at most `max_days` (chargebacks: mostly within days, a tail over weeks)."""

    min_days: float = 1.0
    mean_days: float = 3.0
    max_days: float = 30.0

    def draw(self, rng: random.Random) -> timedelta:
        """One label's delay."""
        return timedelta(days=min(self.max_days, self.min_days + rng.expovariate(
            1 / self.mean_days)))


@dataclass(frozen=True)
class HistorySummary:
    """What a history file holds."""

    payments: int
    frauds: int
    first: str
    last: str


def history_rows(options: GeneratorOptions, count: int) -> Iterator[dict[str, str]]:
    """`count` generated payments as flat rows with a fraud flag and the scenario."""
    for record, _ in zip(PaymentStream(options), range(count), strict=False):
        event = json.loads(record.value)
        location = event.pop("location")
        event.pop("schema_version")
        yield {**{k: str(v) for k, v in event.items()},
               **{k: str(location[k]) for k in ("country", "city", "lat", "lon")},
               "fraud": "1" if record.scenario != "legit" else "0",
               "scenario": record.scenario}


def write_history(payments_path: Path, labels_path: Path | None, options: GeneratorOptions,
                  count: int, delay: LabelDelay = LabelDelay()) -> HistorySummary:
    """Write `count` payments to a CSV and, when asked, each fraud's chargeback (label fraud,
    date = event time + a drawn delay) to a label CSV; then the payments file has no fraud
    column, so the truth arrives only as late as the chargebacks do."""
    rng = random.Random(f"labels-{options.seed}")
    payments = frauds = 0
    first = last = ""
    with open(payments_path, "w", newline="") as handle:
        columns = [c for c in COLUMNS if c != "fraud"] if labels_path else list(COLUMNS)
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        label_handle = open(labels_path, "w", newline="") if labels_path else None  # noqa: SIM115
        try:
            labels = csv.DictWriter(label_handle, fieldnames=LABEL_COLUMNS) if label_handle \
                else None
            if labels:
                labels.writeheader()
            for row in history_rows(options, count):
                writer.writerow(row)
                payments += 1
                first = first or row["timestamp"]
                last = row["timestamp"]
                if row["fraud"] == "1":
                    frauds += 1
                    if labels:
                        moment = datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))
                        labels.writerow({"transaction_id": row["transaction_id"],
                                         "label": "fraud",
                                         "date": (moment + delay.draw(rng)).isoformat(),
                                         "scenario": row["scenario"]})
        finally:
            if label_handle:
                label_handle.close()
    return HistorySummary(payments, frauds, first, last)
