"""The lake query's batch alone: generator payments through spark_jobs.medallion.MedallionBatch.

Calls the medallion foreachBatch function directly on batches of PER Kafka-shaped rows
(BATCHES of them, into a fresh lake under a temporary folder), and prints for each batch
its wall time and the Spark jobs it ran, grouped by the code that started them (from
the Spark UI's REST API). Needs the profile's Kafka and PostgreSQL (`paystream up`):
the batch publishes to `transactions_clean` and records its metrics.

    PAYSTREAM_PROFILE=test .venv/bin/python benchmarks/lake_batch.py PER BATCHES
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
import zlib
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lakehouse.settings import load_settings
from lakehouse.spark import build_spark_session
from producer.generator import GeneratorOptions, PaymentStream
from spark_jobs.medallion import MedallionBatch
from spark_jobs.pipeline import KAFKA_SOURCE_SCHEMA, ensure_tables

PARTITIONS = 6


def kafka_rows(count: int) -> list[tuple[object, ...]]:
    """`count` generator payments as rows of the Kafka source schema, keyed to 6 partitions."""
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
    return rows


def jobs_of(ui: str, app_id: str, group: str) -> list[dict[str, object]]:
    """The Spark jobs of one job group, from the UI's REST API."""
    with urllib.request.urlopen(f"{ui}/api/v1/applications/{app_id}/jobs", timeout=30) as r:
        return [job for job in json.loads(r.read()) if job.get("jobGroup") == group]


def _ms(job: dict[str, object]) -> float:
    def parse(text: object) -> datetime:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%S.%f%Z")
    return (parse(job["completionTime"]) - parse(job["submissionTime"])).total_seconds() * 1000


def main(per_batch: int, batches: int) -> None:
    """Run `batches` lake batches of `per_batch` rows and print their cost."""
    folder = Path(tempfile.mkdtemp(prefix="lake-batch-bench-"))
    os.environ["PAYSTREAM_LAKE_ROOT"] = str(folder / "lake")
    os.environ["PAYSTREAM_SPARK__UI_ENABLED"] = "true"
    settings = load_settings()
    spark = build_spark_session(settings, app_name="bench-lake-batch")
    context = spark.sparkContext
    ui, app_id = context.uiWebUrl, context.applicationId
    rows = kafka_rows(per_batch * batches)
    ensure_tables(spark, settings)
    batch = MedallionBatch(spark, settings)
    for n in range(batches):
        frame = spark.createDataFrame(rows[n * per_batch:(n + 1) * per_batch],
                                      KAFKA_SOURCE_SCHEMA).localCheckpoint()
        group = f"lake-batch-{n}"
        context.setJobGroup(group, group)
        began = time.perf_counter()
        batch(frame, n)
        took = time.perf_counter() - began
        jobs = jobs_of(ui, app_id, group) if ui else []
        by_site = Counter[str]()
        ms_by_site: dict[str, float] = defaultdict(float)
        for job in jobs:
            site = " ".join(str(job.get("description") or job.get("name", "?")).split())[:90]
            by_site[site] += 1
            ms_by_site[site] += _ms(job) if job.get("completionTime") else 0
        print(f"batch {n}: {per_batch:,} rows in {took:.2f} s, {len(jobs)} jobs, "
              f"{sum(ms_by_site.values()) / 1000:.2f} s in jobs")
        for site, ms in sorted(ms_by_site.items(), key=lambda item: -item[1])[:12]:
            print(f"    {by_site[site]:3d} jobs {ms:8.0f} ms  {site}")
    spark.stop()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
