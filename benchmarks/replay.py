"""`paystream bench replay`: the replay reader's peak memory on a history file and on one ten
times bigger, each measured in a fresh process (flat memory = streaming works)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from producer.generator import GeneratorOptions, PaymentStream
from producer.rule_params import load_scenario_params

COLUMNS = ("transaction_id", "user_id", "card_id", "amount", "currency", "merchant_id",
           "merchant_category", "timestamp", "location.country", "location.city",
           "location.lat", "location.lon", "channel", "scenario")
MEASURE = """
import resource, sys, time
from pathlib import Path
from producer.replay import replay_records
started = time.perf_counter()
count = sum(1 for _ in replay_records(Path(sys.argv[1]), run_rows=int(sys.argv[2])))
print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter() - started)
"""


@dataclass(frozen=True)
class ReplayFigure:
    """One file size: rows, file MB, the reader's peak RSS and its rows per second."""

    rows: int
    file_mb: float
    peak_rss_mb: float
    rows_per_s: float


def write_history(path: Path, rows: int) -> None:
    """A generated history CSV of `rows` payments, time-ordered, with scenario labels."""
    stream = PaymentStream(GeneratorOptions(
        seed=3, fraud_rate=0.02, start=datetime.now(UTC) - timedelta(days=30), step_seconds=5.0,
        params=load_scenario_params()))
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for record, _ in zip(stream, range(rows), strict=False):
            event = json.loads(record.value)
            location = event["location"]
            writer.writerow([event["transaction_id"], event["user_id"], event["card_id"],
                             event["amount"], event["currency"], event["merchant_id"],
                             event["merchant_category"], event["timestamp"],
                             location["country"], location["city"], location["lat"],
                             location["lon"], event["channel"], record.scenario])


def measure(path: Path, run_rows: int) -> tuple[int, float, float]:
    """(rows read, peak RSS in MB, seconds) of replaying the file in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path), str(run_rows)],
                          capture_output=True, text=True, check=True)
    rows, rss_kb, seconds = done.stdout.split()
    return int(rows), int(rss_kb) / 1024, float(seconds)


def bench_replay(rows: int, run_rows: int = 100_000) -> list[ReplayFigure]:
    """Replay a file of `rows` payments and one of 10x as many; the peak memory of each."""
    figures = []
    with tempfile.TemporaryDirectory(prefix="paystream-bench-replay-") as folder:
        for size in (rows, rows * 10):
            path = Path(folder) / f"history-{size}.csv"
            write_history(path, size)
            read, peak_mb, seconds = measure(path, run_rows)
            figures.append(ReplayFigure(read, path.stat().st_size / 1e6, peak_mb,
                                        read / seconds))
            path.unlink()
    return figures
