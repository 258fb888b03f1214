"""The stateful query alone: generator payments through spark_jobs.stateful_alerts.keyed_rows.

Writes N payments as Kafka-shaped parquet files of PER rows (one file per micro-batch),
runs the two stateful stages over them at WIDTH buckets into a noop sink, and prints each
batch's time and the last batches' durationMs. No broker and no lake (the cold-start category
factors): it isolates the stateful path's per-batch cost from the queries it shares the cores
with in `bench e2e`.

    .venv/bin/python benchmarks/stateful_stages.py WIDTH N PER
"""

from __future__ import annotations

import itertools
import shutil
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lakehouse.reference_stats import cold_start_factors
from lakehouse.risk import load_risk
from lakehouse.rules import load_rules
from lakehouse.settings import load_settings
from lakehouse.spark import build_spark_session
from producer.generator import GeneratorOptions, PaymentStream
from spark_jobs.pipeline import KAFKA_SOURCE_SCHEMA
from spark_jobs.stateful_alerts import keyed_rows

PARTITIONS = 6


def main(width: int, count: int, per_batch: int) -> None:
    """Run the stages over `count` payments in batches of `per_batch` and print the times."""
    folder = Path(tempfile.mkdtemp(prefix="stateful-bench-"))
    source = folder / "source"
    source.mkdir()
    settings = load_settings()
    spark = build_spark_session(settings, app_name="bench-stateful-stages")
    spark.conf.set("spark.sql.shuffle.partitions", str(width))
    start = datetime.now(UTC) - timedelta(milliseconds=count)
    stream = PaymentStream(GeneratorOptions(seed=7, fraud_rate=0.02, start=start,
                                            n_users=100_000))
    offsets = [0] * PARTITIONS
    rows: list[tuple[object, ...]] = []
    for n, record in enumerate(itertools.islice(stream, count)):
        partition = zlib.crc32(record.key) % PARTITIONS
        rows.append((record.key, record.value, "transactions", partition, offsets[partition],
                     start + timedelta(milliseconds=n), 0, []))
        offsets[partition] += 1
    for first in range(0, count, per_batch):
        staging = folder / "staging" / str(first)
        spark.createDataFrame(rows[first:first + per_batch], KAFKA_SOURCE_SCHEMA) \
            .coalesce(1).write.parquet(str(staging))
        next(staging.glob("part-*.parquet")).rename(source / f"batch-{first:09d}.parquet")
    rules = load_rules(settings.rules_file)
    payments = (spark.readStream.schema(KAFKA_SOURCE_SCHEMA).option("maxFilesPerTrigger", 1)
                .parquet(str(source)))
    out = keyed_rows(payments, rules, settings.pipeline.allowed_lateness_s,
                     load_risk(settings.rules_file), None, width,
                     factors=cold_start_factors().factors)
    began = time.perf_counter()
    query = (out.writeStream.format("noop").outputMode("update")
             .option("checkpointLocation", str(folder / "checkpoint")).start())
    query.processAllAvailable()
    took = time.perf_counter() - began
    batches = [p["durationMs"]["triggerExecution"] for p in query.recentProgress
               if p["numInputRows"]]
    print(f"width {width}: {count:,} rows in {took:.1f} s = {count / took:,.0f} rows/s; "
          f"batch ms {batches}")
    for progress in query.recentProgress[-3:]:
        print(progress["batchId"], progress["numInputRows"], progress["durationMs"])
    query.stop()
    spark.stop()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:4]))
