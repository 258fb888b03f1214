"""`paystream import`: a labelled history file straight into bronze and silver, as a batch job.

The file is read in chunks (never whole); each chunk becomes Kafka-shaped rows and goes
through the stream's own bronze and silver steps: the contract check (all of it except the
age bound, since an explicit import of history is not late data: each row is judged as if
it had arrived at its own event time, or now for a time in the future or unreadable), the
typing, and deduplication by transaction_id against everything silver holds. Rejected rows
land in quarantine with their reasons. Labels go to gold.labels, never into the payload.

Idempotent: the appends of chunk n of a file carry (txnAppId = the file's content hash,
txnVersion = n), so importing the same file again writes nothing; a row whose
transaction_id silver already holds is a resend (same payload) or a conflicting duplicate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.catalog import Catalog
from lakehouse.errors import PaystreamError
from lakehouse.event_contract import CONFLICTING_DUPLICATE
from lakehouse.fx import fx_table
from lakehouse.settings import Settings
from lakehouse.stores import delta
from lakehouse.tables import BRONZE_TRANSACTIONS_RAW, SILVER_QUARANTINE, SILVER_TRANSACTIONS
from spark_jobs import bronze_transactions_raw, gold_activity, gold_labels, silver_transactions
from spark_jobs.gold_labels import Label, is_fraud, labelled_at

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

IMPORT_PARTITION = -1
"""source_partition of imported rows: no Kafka partition has it."""
IMPORT_BATCH_ID = -1
"""silver_batch_id of imported rows: never a streaming batch id (those count from 0)."""
EVERY_EARLIER_ROW_MS = 100 * 365 * 86_400_000
"""Lateness window for deduplication: an import compares with every earlier row."""


@dataclass(frozen=True)
class ImportRequest:
    """What `paystream import` was asked to load."""

    path: Path
    mapping: dict[str, str] = field(default_factory=dict)
    label_column: str | None = None
    scenario_column: str | None = None
    chunk_rows: int = 50_000
    labelled_at_column: str | None = None
    """The column with each label's known-at time (a date or date-time)."""
    label_delay_days: float | None = None
    """Or: each label became known this many days after its payment."""


def label_timing_error(request: ImportRequest) -> str | None:
    """Why the request's labels would have no known-at time, None when they have one (pure).

    A label counts only from the time it became known; an import never guesses that time.
    """
    timed = [flag for flag, value in (("--labelled-at-column", request.labelled_at_column),
                                      ("--label-delay", request.label_delay_days))
             if value is not None]
    if request.label_column is None:
        return f"{timed[0]} needs --label-column" if timed else None
    if not timed:
        return ("--label-column needs --labelled-at-column COL or --label-delay DAYS: "
                "when each label became known is never guessed")
    if len(timed) > 1:
        return "give --labelled-at-column or --label-delay, not both"
    if request.label_delay_days is not None and request.label_delay_days < 0:
        return "--label-delay must be 0 or more days"
    return None


def label_known_at(cell: Any, event: dict[str, Any], request: ImportRequest,
                   now: datetime, number: int) -> datetime:
    """When a row's label became known: its known-at cell, or its payment plus the delay.

    A known-at cell that is empty or not a date fails the import in one line (pure).
    """
    from datetime import timedelta

    if request.labelled_at_column is not None:
        known = labelled_at(cell)
        if known is None:
            raise PaystreamError(f"row {number}: {request.labelled_at_column} {cell!r} is not "
                                 "a date or date-time")
        return known
    return reference_time(event, now) + timedelta(days=request.label_delay_days or 0.0)


@dataclass
class ImportSummary:
    """Counts over the whole file."""

    rows: int = 0
    chunks: int = 0
    silver: int = 0
    quarantined: int = 0
    resends: int = 0
    labels: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's content, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def reference_time(event: dict[str, Any], now: datetime) -> datetime:
    """When an imported row counts as received: its own event time, or now if that is later
    or unreadable (so the age bound never fires and the future bound still does) (pure)."""
    stamp = event.get("timestamp")
    if isinstance(stamp, str):
        try:
            moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return now
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return min(moment.astimezone(UTC), now)
    return now


def kafka_shaped(rows: Iterable[dict[str, Any]], request: ImportRequest, first_offset: int,
                 topic: str, now: datetime) -> tuple[list[tuple[Any, ...]], list[Label]]:
    """File rows as (key, value, topic, partition, offset, timestamp, headers) tuples, as
    the Kafka source gives them (partition -1: no Kafka partition), and their labels (pure)."""
    from lakehouse.history_files import to_event

    records: list[tuple[Any, ...]] = []
    labels: list[Label] = []
    for offset, row in enumerate(rows, first_offset):
        row = dict(row)
        label = row.pop(request.label_column, None) if request.label_column else None
        known_cell = (row.pop(request.labelled_at_column, None) if request.labelled_at_column
                      else None)
        if request.scenario_column and request.scenario_column in row:
            row["scenario"] = row.pop(request.scenario_column)
        event, tags = to_event(row, request.mapping)
        headers = [("source", b"import")] + [(k, v.encode()) for k, v in sorted(tags.items())]
        value = json.dumps(event, separators=(",", ":"), default=str).encode()
        records.append((str(event.get("user_id", "")).encode(), value, topic, IMPORT_PARTITION,
                        offset, reference_time(event, now), headers))
        tx = event.get("transaction_id")
        if label not in (None, "") and isinstance(tx, str) and tx:
            labels.append(Label(tx, "fraud" if is_fraud(label) else "legit",
                                tags.get("scenario"),
                                label_known_at(known_cell, event, request, now, offset + 1)))
    return records, labels


def _kafka_schema() -> Any:
    from pyspark.sql import types as T

    header = T.StructType([T.StructField("key", T.StringType()),
                           T.StructField("value", T.BinaryType())])
    return T.StructType([
        T.StructField("key", T.BinaryType()), T.StructField("value", T.BinaryType()),
        T.StructField("topic", T.StringType()), T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()), T.StructField("timestamp", T.TimestampType()),
        T.StructField("headers", T.ArrayType(header))])


@contextmanager
def staged_chunk(settings: Settings, records: list[tuple[Any, ...]]) -> Iterator[Path]:
    """The chunk's Kafka-shaped rows in a Parquet file under Spark's local scratch folder.

    Spark then reads the rows from the file: a local list in createDataFrame travels inside
    the tasks themselves (megabytes each, a "task of very large size" warning per stage).
    For a local master only: a cluster's executors do not see this folder.
    """
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(_kafka_schema(), timezone="UTC")
    columns: list[Sequence[Any]] = (list(zip(*records, strict=True)) if records
                                    else [[] for _ in schema.names])
    table = pa.table({name: pa.array(column, type=schema.field(name).type)
                      for name, column in zip(schema.names, columns, strict=True)},
                     schema=schema)
    scratch = settings.home / "spark" / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="import-chunk-", dir=scratch) as folder:
        path = Path(folder) / "chunk.parquet"
        pq.write_table(table, path)
        yield path


class ChunkLoader:
    """Lands one chunk of Kafka-shaped rows in bronze, silver, quarantine and gold.labels."""

    def __init__(self, spark: SparkSession, settings: Settings, digest: str, source: str) -> None:
        self.spark = spark
        self.settings = settings
        self.catalog = Catalog(settings.lake_location)
        self.app_id = f"import-{digest[:32]}"
        self.source = source

    def land(self, chunk: int, records: list[tuple[Any, ...]],
             labels: list[Label], summary: ImportSummary) -> None:
        """Check, type, deduplicate and append one chunk; count what happened."""

        if not self.settings.spark.master.startswith("local"):
            # A cluster's executors cannot read the driver's scratch folder.
            self._land(chunk, self.spark.createDataFrame(records, _kafka_schema()), labels,
                       summary)
            return
        with staged_chunk(self.settings, records) as path:
            self._land(chunk, self.spark.read.schema(_kafka_schema()).parquet(str(path)),
                       labels, summary)

    def _land(self, chunk: int, kafka_rows: DataFrame, labels: list[Label],
              summary: ImportSummary) -> None:
        from pyspark.sql import functions as F

        bronze = bronze_transactions_raw.transform(kafka_rows).persist()
        checked = silver_transactions.check_contract(
            bronze, fx_table(self.settings.fx_rates_file)).persist()
        valid = checked.where(F.size("reasons") == 0)
        rejected = checked.where(F.size("reasons") > 0)
        candidates = silver_transactions.to_silver_rows(valid, IMPORT_BATCH_ID)
        judged = silver_transactions.judge_duplicates(
            candidates, self._known(candidates), EVERY_EARLIER_ROW_MS).localCheckpoint()
        new_rows = judged.where(F.col("outcome") == "new").drop("outcome")
        conflicts = judged.where(F.col("outcome") == "conflict").select(
            F.col("source_partition").alias("partition"), F.col("source_offset").alias("offset"))
        rejected = rejected.unionByName(silver_transactions.with_reason(
            checked, conflicts, CONFLICTING_DUPLICATE))
        quarantine = silver_transactions.to_quarantine_rows(rejected, IMPORT_BATCH_ID).persist()
        delta.append_once(bronze, self.catalog, BRONZE_TRANSACTIONS_RAW, f"{self.app_id}-bronze",
                          chunk)
        delta.append_once(new_rows, self.catalog, SILVER_TRANSACTIONS, f"{self.app_id}-silver",
                          chunk)
        delta.append_once(quarantine, self.catalog, SILVER_QUARANTINE, f"{self.app_id}-quarantine",
                          chunk)
        for table, key in gold_activity.ACTIVITY_TABLES:  # additive rows, as the stream's
            delta.append_once(gold_activity.activity_1m(new_rows, key), self.catalog, table,
                              f"{self.app_id}-{table.name}", chunk)
        if labels:
            gold_labels.merge_labels(self.spark, self.settings, labels, self.source)
        outcomes = {row[0]: row[1] for row in judged.groupBy("outcome").count().collect()}
        summary.silver += outcomes.get("new", 0)
        summary.resends += outcomes.get("resend", 0)
        for reason, count in quarantine.groupBy("primary_reason").count().collect():
            summary.reasons[reason] = summary.reasons.get(reason, 0) + count
            summary.quarantined += count
        summary.labels += len(labels)
        for frame in (quarantine, checked, bronze):
            frame.unpersist()

    def _known(self, candidates: DataFrame) -> DataFrame:
        """Silver rows holding any of the candidates' transaction ids."""
        path = self.catalog.table(SILVER_TRANSACTIONS)
        if not delta.delta_exists(self.spark, path):
            return candidates.limit(0)
        return delta.read_delta(self.spark, path).join(
            candidates.select("transaction_id").distinct(), "transaction_id", "left_semi")


def run_import(spark: SparkSession, settings: Settings, request: ImportRequest,
               progress: Callable[[int], None] | None = None) -> ImportSummary:
    """Import the file chunk by chunk; `progress` hears the rows done so far."""
    from lakehouse.history_files import chunks, iter_rows

    if not request.path.exists():
        raise PaystreamError(f"file {request.path} does not exist")
    if request.chunk_rows <= 0:
        raise PaystreamError("--chunk-rows must be 1 or more")
    timing_error = label_timing_error(request)
    if timing_error:
        raise PaystreamError(timing_error)
    from spark_jobs.pipeline import ensure_tables

    ensure_tables(spark, settings)  # the tables as the stream makes them, before any chunk
    digest = file_digest(request.path)
    loader = ChunkLoader(spark, settings, digest, f"import:{request.path.name}")
    topic = f"import:{request.path.name}"
    summary = ImportSummary()
    now = datetime.now(UTC)
    for number, rows in enumerate(chunks(iter_rows(request.path), request.chunk_rows)):
        records, labels = kafka_shaped(rows, request, summary.rows, topic, now)
        loader.land(number, records, labels, summary)
        summary.rows += len(rows)
        summary.chunks += 1
        if progress is not None:
            progress(summary.rows)
    return summary
