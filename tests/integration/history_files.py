"""Labelled history files for the import and backtest tests, made by the project's generator
(producer.history)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from producer.generator import GeneratorOptions
from producer.history import COLUMNS, LOCATION_MAP
from producer.history import history_rows as generated_rows
from producer.rule_params import load_scenario_params

__all__ = ["LOCATION_MAP", "history_rows", "history_start", "write_csv"]

# The generator draws users by the hour of day, so the same seed gives other payments at
# another start time: a history starts at this time of day whatever the clock says.
START_TIME = time(10, 0, tzinfo=UTC)


def history_start(days_ago: int) -> datetime:
    """The start of a history `days_ago` days back, at the fixed START_TIME of day (a test
    run at any hour gets the same payments)."""
    day = (datetime.now(UTC) - timedelta(days=days_ago)).date()
    return datetime.combine(day, START_TIME)


def history_rows(count: int, start: datetime, seed: int,
                 fraud_rate: float = 0.05) -> list[dict[str, str]]:
    """`count` generated payments as flat CSV rows, with a fraud label and the scenario."""
    return list(generated_rows(GeneratorOptions(
        seed=seed, fraud_rate=fraud_rate, fault_rate=0.0, start=start, step_seconds=20.0,
        params=load_scenario_params()), count))


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write rows with the history columns (extra keys are refused)."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path
