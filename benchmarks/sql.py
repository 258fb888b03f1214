"""`paystream bench sql`: the whole `paystream sql` command beside plain DuckDB on the same files.

A synthetic gold.alerts Delta table (28 daily partitions) is written under
`$PAYSTREAM_HOME/bench/sql`; each figure is the median wall time of whole
processes, so start-up counts on both sides.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from lakehouse.catalog import Catalog
from lakehouse.settings import Settings
from lakehouse.tables import GOLD_ALERTS

DAYS = 28
RULES = ("high_amount", "velocity", "card_testing", "impossible_travel", "compromised_merchant")


@dataclass(frozen=True)
class SqlTiming:
    """One query: median seconds through `paystream sql` and through plain DuckDB."""

    name: str
    paystream_s: float
    duckdb_s: float

    @property
    def ratio(self) -> float:
        """How many times plain DuckDB's time `paystream sql` takes."""
        return self.paystream_s / self.duckdb_s if self.duckdb_s else float("inf")


def write_alerts_table(path: Path, rows: int, first_day: date) -> None:
    """A gold.alerts-shaped Delta table of `rows` rows over 28 daily partitions."""
    import numpy as np
    import pyarrow as pa
    from deltalake import write_deltalake

    rng = np.random.default_rng(7)
    chunk = 1_000_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        ids = np.arange(start, start + n)
        days = rng.integers(0, DAYS, n)
        seconds = rng.integers(0, 86_400, n)
        event_time = (np.datetime64(first_day.isoformat(), "s") + days * 86_400 + seconds)
        batch = pa.table({
            "alert_id": pa.array([f"a{i:012d}" for i in ids]),
            "rule_id": pa.array(np.array(RULES)[rng.integers(0, len(RULES), n)]),
            "user_id": pa.array([f"u{u:07d}" for u in rng.integers(0, 1_000_000, n)]),
            "transaction_id": pa.array([f"t{i:012d}" for i in ids]),
            "amount_eur": pa.array(rng.integers(1, 5_000, n), pa.int64()).cast(  # whole euros
                pa.decimal128(38, 0)).cast(pa.decimal128(38, 2)).cast(pa.decimal128(18, 2)),
            "event_time": pa.array(event_time.astype("datetime64[us]"), pa.timestamp("us", "UTC")),
            "event_date": pa.array(event_time.astype("datetime64[D]"), pa.date32()),
        })
        write_deltalake(str(path), batch, partition_by=list(GOLD_ALERTS.partition_by),
                        mode="overwrite" if start == 0 else "append")


def _median_wall(argv: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def bench_sql(settings: Settings, rows: int, runs: int = 5) -> list[SqlTiming]:
    """Time start-up, a group-by and a point filter both ways on one synthetic table."""
    import os

    lake = settings.home / "bench" / "sql" / "lake"
    table = Path(Catalog(lake).table(GOLD_ALERTS))
    first_day = date.today() - timedelta(days=DAYS)
    marker = table.parent / f".rows-{rows}-{first_day}"
    if not marker.exists():
        write_alerts_table(table, rows, first_day)
        marker.touch()
    day = (first_day + timedelta(days=DAYS // 2)).isoformat()
    queries = {
        "start-up (SELECT 1)": "SELECT 1",
        "group-by over all rows": "SELECT rule_id, count(*), sum(amount_eur) FROM gold_alerts "
                                  "GROUP BY 1 ORDER BY 1",
        "point filter (one day, one user)": f"SELECT * FROM gold_alerts WHERE event_date = "
                                            f"DATE '{day}' AND user_id = 'u0000042'",
    }
    paystream = str(Path(sys.executable).parent / "paystream")
    env = {**os.environ, "PAYSTREAM_LAKE_ROOT": str(lake)}
    source = (f"(SELECT * FROM read_parquet('{table}/*/*.parquet', hive_partitioning = true))"
              " AS gold_alerts")
    timings = []
    for name, sql in queries.items():
        plain = sql.replace("FROM gold_alerts", f"FROM {source}")
        script = f"import duckdb; duckdb.sql({plain!r}).fetchall()"
        timings.append(SqlTiming(
            name, _median_wall([paystream, "sql", sql, "--format", "csv"], runs, env),
            _median_wall([sys.executable, "-c", script], runs)))
    return timings
