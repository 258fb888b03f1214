"""A labelled history to backtest on: generated payments as a flat CSV, and a chargeback file
whose labels arrive days after the payments, as a card issuer's do.

`paystream history` writes both; `paystream import` then lands the payments (without their
labels) and `paystream label` the chargebacks, so behavioural features only know a fraud from
the day its label arrived. Harder histories, so detection is not tuned to one generator's
habits: a long-tailed (lognormal) label delay, frauds never reported (their truth goes to a
third file dated UNREPORTED_DATE: a backtest scores them, no feature ever knows them), and
varied breach and clone intensity (producer.generator.GeneratorOptions.varied_intensity).
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from producer.generator import GeneratorOptions, PaymentStream

COLUMNS = ("transaction_id", "user_id", "card_id", "amount", "currency", "merchant_id",
           "merchant_category", "timestamp", "country", "city", "lat", "lon", "channel",
           "fraud", "scenario")
LABEL_COLUMNS = ("transaction_id", "label", "date", "scenario")
LOCATION_MAP = "country=location.country,city=location.city,lat=location.lat,lon=location.lon"
"""The --map a flat history file needs for the contract's nested location."""
UNREPORTED_DATE = "2999-12-31"
"""The known-at date of an unreported fraud's truth: after every payment, so no feature, rule
or model ever counts it as known, while a backtest scores it."""
LOGNORMAL_SIGMA = 1.0
"""The lognormal delay's spread: median 0.61 of the mean, one label in ten after 2.2 times it."""
DEFAULT_MAX_DAYS = {"fixed": 30.0, "lognormal": 120.0}
"""The cap of a label's delay unless given: a lognormal tail runs to Visa's 120-day limit."""


@dataclass(frozen=True)
class LabelDelay:
    """How late a fraud's label arrives, at most `max_days`. `fixed` (the default shape):
    `min_days` plus an exponential of mean `mean_days` (chargebacks: mostly within days, a
    tail over weeks); `lognormal`: a lognormal of mean `mean_days` (before the cap) and spread
    LOGNORMAL_SIGMA, a longer tail."""

    min_days: float = 1.0
    mean_days: float = 3.0
    max_days: float = 30.0
    shape: Literal["fixed", "lognormal"] = "fixed"

    def draw(self, rng: random.Random) -> timedelta:
        """One label's delay."""
        if self.shape == "lognormal":
            mu = math.log(self.mean_days) - LOGNORMAL_SIGMA ** 2 / 2
            return timedelta(days=min(self.max_days, rng.lognormvariate(mu, LOGNORMAL_SIGMA)))
        return timedelta(days=min(self.max_days, self.min_days + rng.expovariate(
            1 / self.mean_days)))


@dataclass(frozen=True)
class HistorySummary:
    """What a history file holds."""

    payments: int
    frauds: int
    first: str
    last: str
    unreported: int = 0


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
                  count: int, delay: LabelDelay = LabelDelay(), unreported_share: float = 0.0,
                  unreported_path: Path | None = None) -> HistorySummary:
    """Write `count` payments to a CSV and, when asked, each fraud's chargeback (label fraud,
    date = event time + a drawn delay) to a label CSV; then the payments file has no fraud
    column, so the truth arrives only as late as the chargebacks do. With `unreported_share`,
    that share of the frauds (drawn apart, so the others keep their dates) gets no chargeback:
    its truth goes to `unreported_path`, dated UNREPORTED_DATE."""
    if not 0 <= unreported_share <= 1:
        raise ValueError("the unreported share must lie between 0 and 1")
    if unreported_share and (labels_path is None or unreported_path is None):
        raise ValueError("unreported frauds need a chargeback file and an unreported file")
    rng = random.Random(f"labels-{options.seed}")
    silent = random.Random(f"unreported-{options.seed}")
    payments = frauds = unreported = 0
    first = last = ""
    with open(payments_path, "w", newline="") as handle:
        columns = [c for c in COLUMNS if c != "fraud"] if labels_path else list(COLUMNS)
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        label_handle = open(labels_path, "w", newline="") if labels_path else None  # noqa: SIM115
        truth_handle = (open(unreported_path, "w", newline="")  # noqa: SIM115
                        if unreported_share and unreported_path else None)
        try:
            labels = csv.DictWriter(label_handle, fieldnames=LABEL_COLUMNS) if label_handle \
                else None
            if labels:
                labels.writeheader()
            truth = csv.DictWriter(truth_handle, fieldnames=LABEL_COLUMNS) if truth_handle \
                else None
            if truth:
                truth.writeheader()
            for row in history_rows(options, count):
                writer.writerow(row)
                payments += 1
                first = first or row["timestamp"]
                last = row["timestamp"]
                if row["fraud"] == "1":
                    frauds += 1
                    if labels:
                        moment = datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))
                        known = (moment + delay.draw(rng)).isoformat()
                        label = {"transaction_id": row["transaction_id"], "label": "fraud",
                                 "date": known, "scenario": row["scenario"]}
                        if truth and silent.random() < unreported_share:
                            truth.writerow({**label, "date": UNREPORTED_DATE})
                            unreported += 1
                        else:
                            labels.writerow(label)
        finally:
            for opened in (label_handle, truth_handle):
                if opened:
                    opened.close()
    return HistorySummary(payments, frauds, first, last, unreported)
