"""Labelled history files for the import and backtest tests, made by the project's generator."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

from producer.generator import GeneratorOptions, PaymentStream
from producer.rule_params import load_scenario_params

COLUMNS = ("transaction_id", "user_id", "card_id", "amount", "currency", "merchant_id",
           "merchant_category", "timestamp", "country", "city", "lat", "lon", "channel",
           "fraud", "scenario")
LOCATION_MAP = "country=location.country,city=location.city,lat=location.lat,lon=location.lon"
"""The --map a flat history file needs for the contract's nested location."""


def history_rows(count: int, start: datetime, seed: int,
                 fraud_rate: float = 0.05) -> list[dict[str, str]]:
    """`count` generated payments as flat CSV rows, with a fraud label and the scenario."""
    stream = PaymentStream(GeneratorOptions(
        seed=seed, fraud_rate=fraud_rate, fault_rate=0.0, start=start, step_seconds=20.0,
        params=load_scenario_params()))
    rows = []
    for record, _ in zip(stream, range(count), strict=False):
        event = json.loads(record.value)
        location = event.pop("location")
        event.pop("schema_version")
        rows.append({**{k: str(v) for k, v in event.items()},
                     **{k: str(location[k]) for k in ("country", "city", "lat", "lon")},
                     "fraud": "1" if record.scenario != "legit" else "0",
                     "scenario": record.scenario})
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write rows with the history columns (extra keys are refused)."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path
