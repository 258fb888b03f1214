"""`paystream stream`: run the medallion pipeline, all layers or one.

All layers run as one Kafka query whose micro-batches land bronze, silver and
gold in turn (spark_jobs.medallion), so an alert is one micro-batch away from
its event. One layer (`--layer`) runs as its own query fed by the layer below
through Delta. With --available-now the query processes everything available
and exits: the catch-up mode tests use. Without it the query runs until
SIGTERM or Ctrl-C, which stops it between batches.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lakehouse.catalog import Catalog
from lakehouse.errors import PaystreamError
from lakehouse.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

LAYERS = ("bronze", "silver", "gold")


def _starter(layer: str) -> Callable[[SparkSession, Settings, bool], StreamingQuery]:
    from spark_jobs import bronze_transactions_raw, gold_alerts, medallion, silver_transactions

    if layer == medallion.QUERY_NAME:
        return medallion.start

    def bronze(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
        medallion.refuse_mixed_checkpoints(Catalog(settings.lake), "bronze")
        return bronze_transactions_raw.start(spark, settings, available_now,
                                             settings.pipeline.max_offsets_per_trigger)

    def silver(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
        medallion.refuse_mixed_checkpoints(Catalog(settings.lake), "silver")
        return silver_transactions.start(spark, settings, available_now)

    return {"bronze": bronze, "silver": silver, "gold": gold_alerts.start}[layer]


KAFKA_SOURCE_SCHEMA = (
    "key binary, value binary, topic string, partition int, offset long, timestamp timestamp, "
    "timestampType int, headers array<struct<key: string, value: binary>>"
)


def ensure_tables(spark: SparkSession, settings: Settings) -> None:
    """Create the empty bronze and silver tables, so a downstream query can start first."""
    from pyspark.sql import functions as F

    from spark_jobs import bronze_transactions_raw, io, silver_transactions

    catalog = Catalog(settings.lake)
    bronze = bronze_transactions_raw.transform(spark.createDataFrame([], KAFKA_SOURCE_SCHEMA))
    io.ensure_delta_table(bronze, catalog.table(bronze_transactions_raw.TABLE),
                          bronze_transactions_raw.PARTITION_BY)
    silver = silver_transactions.to_silver_rows(bronze, silver_transactions.fx_rates(spark), 0)
    io.ensure_delta_table(silver, catalog.table(silver_transactions.TABLE),
                          silver_transactions.PARTITION_BY)
    quarantine = silver_transactions.to_quarantine_rows(
        bronze.withColumn("reasons", F.array().cast("array<string>")), 0)
    io.ensure_delta_table(quarantine, catalog.table(silver_transactions.QUARANTINE),
                          silver_transactions.QUARANTINE_PARTITION_BY)


def _raise_if_failed(query: StreamingQuery) -> None:
    error = query.exception()
    if error is not None:
        message = " ".join(str(error).split())[:300]
        raise PaystreamError(f"the {query.name} query failed: {message}")


def run_pipeline(spark: SparkSession, settings: Settings, layers: Sequence[str],
                 available_now: bool, say: Callable[[str], None] = lambda _: None,
                 stop: threading.Event | None = None) -> None:
    """Run the given layers; return when they finish (available-now) or are stopped."""
    unknown = set(layers) - set(LAYERS)
    if unknown:
        raise PaystreamError(f"unknown layer: {', '.join(sorted(unknown))}")
    ordered = [layer for layer in LAYERS if layer in layers]
    ensure_tables(spark, settings)
    queries_to_run = ["medallion"] if ordered == list(LAYERS) else ordered
    label = {"medallion": ", ".join(LAYERS)}
    if available_now:
        for name in queries_to_run:
            say(f"{label.get(name, name)}: processing everything available")
            query = _starter(name)(spark, settings, True)
            query.awaitTermination()
            _raise_if_failed(query)
        return
    stop = stop or threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, request_stop) if in_main_thread else None
    queries = []
    try:
        for name in queries_to_run:
            queries.append(_starter(name)(spark, settings, False))
            say(f"{label.get(name, name)}: running")
        while not stop.is_set():
            for query in queries:
                if not query.isActive:
                    _raise_if_failed(query)
                    raise PaystreamError(f"the {query.name} query stopped")
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        for query in queries:
            if query.isActive:
                query.stop()
