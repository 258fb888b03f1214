"""Silver: bronze records parsed, validated, deduplicated and normalised to EUR.

Per micro-batch of bronze rows:
1. Check each raw value against the contract with total Spark SQL expressions
   (spark_jobs.contract_check: the JSON Schema plus time and size bounds, judged
   at the record's Kafka timestamp), so no payload can fail the batch.
2. Valid events become typed rows with amount as decimal(18,2) and amount_eur.
3. A payment more than the allowed lateness older than the newest earlier payment
   of its Kafka partition is quarantined as `too_late`, never dropped; each
   partition's newest event time is carried between batches in a small file per
   batch (NewestEventTimes), so a replayed batch judges exactly as before.
4. Deduplication by transaction_id: within the batch, and against the silver rows
   within the allowed lateness of the batch's event times (partition pruning and
   file statistics keep that read independent of the lake's size). A later record
   with the same payload is a resend and dropped; with another payload it is a
   conflicting duplicate and quarantined. New rows are appended with (txnAppId,
   txnVersion), so a replayed batch computes the same rows and its append is skipped.
5. Rejected records go to silver.quarantine with every reason, and to the
   dead-letter topic cut to a size any broker takes; new silver rows go to
   `transactions_clean`.
The stateful alert query judges lateness and duplicates by the same definitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.catalog import Catalog
from lakehouse.event_contract import CONFLICTING_DUPLICATE, TOO_LATE
from lakehouse.fx import fx_table
from lakehouse.quarantine import REPLAY_HEADER
from lakehouse.settings import Settings
from lakehouse.stores import delta, kafka, postgres
from lakehouse.tables import BRONZE_TRANSACTIONS_RAW, SILVER_QUARANTINE, SILVER_TRANSACTIONS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

QUERY_NAME = "silver"


def check_contract(bronze: DataFrame, rates: Mapping[str, Decimal]) -> DataFrame:
    """Bronze rows with the parsed `event` (variant), its `reasons` (empty = valid) and the
    `eur_per_unit` of its currency in the FX table `rates`; total."""
    from pyspark.sql import functions as F

    from spark_jobs.contract_check import contract_reasons, fx_rate, parse_event

    with_event = bronze.withColumn("event", parse_event(F.col("value")))
    currency = F.try_variant_get("event", "$.currency", "string")
    return (with_event
            .withColumn("reasons", contract_reasons(F.col("event"), F.col("value"),
                                                    F.col("kafka_timestamp"), rates))
            .withColumn("eur_per_unit", fx_rate(currency, rates)))


def typed_event_columns() -> list[Column]:
    """The valid `event` variant as typed columns (amount_eur at the checked row's
    eur_per_unit); every conversion is a try_ one."""
    from pyspark.sql import functions as F

    from spark_jobs.contract_check import amount_eur_at

    def text(path: str) -> Column:
        return F.try_variant_get("event", f"$.{path}", "string")

    amount = text("amount").try_cast("decimal(18,2)")
    return [
        text("transaction_id").alias("transaction_id"),
        text("user_id").alias("user_id"),
        text("card_id").alias("card_id"),
        amount.alias("amount"),
        text("currency").alias("currency"),
        amount_eur_at(amount, F.col("eur_per_unit")).alias("amount_eur"),
        text("merchant_id").alias("merchant_id"),
        text("merchant_category").alias("merchant_category"),
        F.try_to_timestamp(text("timestamp")).alias("event_time"),
        text("location.country").alias("country"),
        text("location.city").alias("city"),
        F.try_variant_get("event", "$.location.lat", "double").alias("lat"),
        F.try_variant_get("event", "$.location.lon", "double").alias("lon"),
        text("channel").alias("channel"),
        F.try_variant_get("event", "$.schema_version", "int").alias("schema_version"),
    ]


PAYLOAD_COLUMNS = ("user_id", "card_id", "amount", "currency", "merchant_id",
                   "merchant_category", "event_time", "country", "city", "lat", "lon", "channel")
"""What makes two records of one transaction_id the same payment (a resend) or a conflict."""


def to_silver_rows(checked: DataFrame, batch_id: int) -> DataFrame:
    """Valid checked rows as typed silver rows with amount_eur and their source coordinates."""
    from pyspark.sql import functions as F

    rows = checked.select(
        *typed_event_columns(),
        F.col("topic").alias("source_topic"),
        F.col("partition").alias("source_partition"),
        F.col("offset").alias("source_offset"),
        "kafka_timestamp",
        "ingest_time",
    )
    payload = F.sha2(F.to_json(F.struct(*PAYLOAD_COLUMNS)), 256)
    return (
        rows.withColumn("event_date", F.to_date("event_time"))
        .withColumn("payload_sha256", payload)
        .withColumn("silver_batch_id", F.lit(batch_id).cast("long"))
        .withColumn("silver_time", F.current_timestamp())
        .select("transaction_id", "user_id", "card_id", "amount", "currency", "amount_eur",
                "merchant_id", "merchant_category", "event_time", "event_date", "country",
                "city", "lat", "lon", "channel", "schema_version", "source_topic",
                "source_partition", "source_offset", "kafka_timestamp", "ingest_time",
                "payload_sha256", "silver_batch_id", "silver_time")
    )


def judge_duplicates(candidates: DataFrame, landed_before: DataFrame,
                     lateness_ms: int) -> DataFrame:
    """Typed candidates with `outcome`: `new`, `resend` (dropped) or `conflict` (quarantined).

    A new transaction_id keeps its earliest record (by Kafka coordinates); a later record of
    a known transaction_id with the same payload is a resend, with another payload a
    conflicting duplicate. Known means: earlier in this batch, or landed by another batch
    with an event time within the allowed lateness of this one, which bounds what silver
    reads per batch (the stateful query remembers ids as long).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.partitionBy("transaction_id").orderBy("source_partition", "source_offset")
    ranked = (candidates.withColumn("_n", F.row_number().over(order))
              .withColumn("_first", F.first("payload_sha256").over(order)))
    landed = landed_before.select("transaction_id", F.col("payload_sha256").alias("_landed"),
                                  F.unix_millis("event_time").alias("_landed_ms"))
    near = F.abs(F.unix_millis("event_time") - F.col("_landed_ms")) <= F.lit(lateness_ms)
    # Silver holds each transaction_id once, so the join adds no rows.
    matched = (ranked.join(landed, "transaction_id", "left")
               .withColumn("_landed", F.when(near, F.col("_landed"))).drop("_landed_ms"))
    original = F.coalesce(F.col("_landed"), F.col("_first"))
    outcome = (F.when(F.col("_landed").isNull() & (F.col("_n") == 1), F.lit("new"))
               .when(F.col("payload_sha256") == original, F.lit("resend"))
               .otherwise(F.lit("conflict")))
    return matched.withColumn("outcome", outcome).drop("_n", "_first", "_landed")


def to_quarantine_rows(rows: DataFrame, batch_id: int) -> DataFrame:
    """Bronze rows with reasons as quarantine rows: the raw value, coordinates and every reason."""
    from pyspark.sql import functions as F

    return rows.select(
        "key", "value", "headers",
        F.col("topic").alias("source_topic"),
        F.col("partition").alias("source_partition"),
        F.col("offset").alias("source_offset"),
        "kafka_timestamp", "ingest_time", "reasons",
        F.col("reasons")[0].alias("primary_reason"),
        F.current_timestamp().alias("quarantined_at"),
        F.to_date("kafka_timestamp").alias("quarantine_date"),
        F.lit(batch_id).cast("long").alias("silver_batch_id"),
        # Set by `paystream quarantine replay` when the record is re-sent.
        F.lit(None).cast("timestamp").alias("replayed_at"),
        F.lit(None).cast("string").alias("replay_id"),
    )


def split_checked(checked: DataFrame, batch_id: int, newest_before: dict[int, int],
                  lateness_ms: int) -> tuple[DataFrame, DataFrame]:
    """Split contract-checked bronze rows into (typed silver candidates, rejected checked rows).

    A valid payment is too late when its event time is more than the allowed lateness older
    than the newest valid payment before it in its Kafka partition (`newest_before` carries
    each partition's newest event time in ms from earlier batches). Kafka keeps a user's
    payments in order in one partition, so an in-order replay of history is never late.
    A record re-sent from quarantine (`paystream quarantine replay`, its REPLAY_HEADER) is
    old by nature and never judged late; deduplication still holds it to one landing.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    valid = checked.where(F.size("reasons") == 0)
    invalid = checked.where(F.size("reasons") > 0)
    replayed = F.coalesce(F.exists("headers", lambda h: h["key"] == REPLAY_HEADER), F.lit(False))
    replays = to_silver_rows(valid.where(replayed), batch_id)
    typed = to_silver_rows(valid.where(~replayed), batch_id)
    earlier = Window.partitionBy("source_partition").orderBy("source_offset").rowsBetween(
        Window.unboundedPreceding, -1)
    carried = F.lit(None).cast("long")
    if newest_before:
        carried = F.try_element_at(F.create_map(*[
            item for partition, ms in sorted(newest_before.items())
            for item in (F.lit(partition), F.lit(ms).cast("long"))]), F.col("source_partition"))
    newest = F.greatest(F.max(F.unix_millis("event_time")).over(earlier), carried)
    judged = typed.withColumn("_late", F.coalesce(
        F.unix_millis("event_time") < newest - F.lit(lateness_ms), F.lit(False)))
    late_keys = judged.where("_late").select(
        F.col("source_partition").alias("partition"), F.col("source_offset").alias("offset"))
    invalid = invalid.unionByName(with_reason(valid, late_keys, TOO_LATE))
    return judged.where(~F.col("_late")).drop("_late").unionByName(replays), invalid


@dataclass(frozen=True)
class PartitionTimes:
    """A Kafka partition's earliest and latest valid event time in a batch."""

    earliest: datetime
    latest: datetime
    latest_ms: int


def times_by_partition(typed: DataFrame) -> dict[int, PartitionTimes]:
    """Each Kafka partition's event-time bounds among the batch's valid payments (one job)."""
    from pyspark.sql import functions as F

    return {int(row[0]): PartitionTimes(row[1], row[2], int(row[3]))
            for row in typed.groupBy("source_partition").agg(
                F.min("event_time"), F.max("event_time"),
                F.max(F.unix_millis("event_time"))).collect()}


def newest_by_partition(times: dict[int, PartitionTimes],
                        before: dict[int, int]) -> dict[int, int]:
    """Each partition's newest valid event time (ms) after this batch (pure)."""
    newest = dict(before)
    for partition, bounds in times.items():
        newest[partition] = max(bounds.latest_ms, newest.get(partition, bounds.latest_ms))
    return newest


def with_reason(checked: DataFrame, keys: DataFrame, reason: str) -> DataFrame:
    """The checked rows at the given (partition, offset) keys, with one reason."""
    from pyspark.sql import functions as F

    return checked.join(keys, ["partition", "offset"], "left_semi").withColumn(
        "reasons", F.array(F.lit(reason)))


@dataclass
class SilverLanding:
    """One prepared silver batch: checked bronze rows, new silver rows and quarantine rows."""

    batch_id: int
    started: float
    checked: DataFrame
    new_rows: DataFrame
    quarantine_rows: DataFrame

    def release(self) -> None:
        """Drop the cached frames."""
        for frame in (self.checked, self.new_rows, self.quarantine_rows):
            frame.unpersist()


class NewestEventTimes:
    """Each Kafka partition's newest event time after each batch: one small JSON file per batch.

    Batch N reads the file of the latest batch before N, so a replayed batch judges lateness
    exactly as it did the first time.
    """

    KEEP = 50

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _batches(self) -> list[int]:
        if not self.folder.exists():
            return []
        return sorted(int(f.stem) for f in self.folder.glob("*.json") if f.stem.isdigit())

    def before(self, batch_id: int) -> dict[int, int]:
        """Partition -> newest event ms as it stood before batch_id."""
        import json

        earlier = [b for b in self._batches() if b < batch_id]
        if not earlier:
            return {}
        stored = json.loads((self.folder / f"{earlier[-1]}.json").read_text())
        return {int(k): int(v) for k, v in stored.items()}

    def record(self, batch_id: int, newest: dict[int, int]) -> None:
        """Store the newest event times after batch_id (atomically) and prune old files."""
        import json
        import os

        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f".{batch_id}.json.tmp"
        temporary.write_text(json.dumps({str(k): v for k, v in newest.items()}))
        os.replace(temporary, self.folder / f"{batch_id}.json")
        for old in self._batches()[:-self.KEEP]:
            (self.folder / f"{old}.json").unlink(missing_ok=True)


class SilverBatch:
    """The foreachBatch function of the silver query."""

    def __init__(self, spark: SparkSession, settings: Settings) -> None:
        self.settings = settings
        self.rates = fx_table(settings.fx_rates_file)
        self.catalog = Catalog(settings.lake_location)
        self.lateness_ms = settings.pipeline.allowed_lateness_s * 1000
        self.newest = NewestEventTimes(Path(self.catalog.checkpoint(QUERY_NAME + "_newest")))

    def __call__(self, bronze: DataFrame, batch_id: int) -> None:
        """Process one micro-batch of bronze rows."""
        bronze = bronze.persist()
        landing = self.prepare(bronze, batch_id)
        self.commit(landing)
        landing.release()
        bronze.unpersist()

    def prepare(self, bronze: DataFrame, batch_id: int) -> SilverLanding:
        """Check, type and deduplicate one batch of bronze rows, writing nothing yet."""
        import time

        from pyspark.sql import functions as F

        started = time.perf_counter()
        checked = check_contract(bronze, self.rates).persist()
        newest_before = self.newest.before(batch_id)
        candidates, rejected = split_checked(checked, batch_id, newest_before, self.lateness_ms)
        # One job gives both the lateness carried to the next batch and the dedupe window.
        times = times_by_partition(candidates)
        self.newest.record(batch_id, newest_by_partition(times, newest_before))
        spark = bronze.sparkSession
        landed_before = self.recent_rows(
            spark, batch_id, candidates, (min(t.earliest for t in times.values()),
                                          max(t.latest for t in times.values()))
        ) if times else self.other_batches(spark, batch_id).limit(0)
        # localCheckpoint, not persist: a cached plan that reads silver is recomputed by Spark
        # as soon as silver is written, which would run the batch twice.
        judged = judge_duplicates(candidates, landed_before, self.lateness_ms).localCheckpoint()
        new_rows = judged.where(F.col("outcome") == "new").drop("outcome")
        conflicts = judged.where(F.col("outcome") == "conflict").select(
            F.col("source_partition").alias("partition"), F.col("source_offset").alias("offset"))
        rejected = rejected.unionByName(with_reason(checked, conflicts, CONFLICTING_DUPLICATE))
        quarantine_rows = to_quarantine_rows(rejected, batch_id).persist()
        return SilverLanding(batch_id, started, checked, new_rows, quarantine_rows)

    def recent_rows(self, spark: SparkSession, batch_id: int, candidates: DataFrame,
                    bounds: tuple[datetime, datetime] | None = None) -> DataFrame:
        """Silver rows of other batches within the allowed lateness of the candidates' times.

        Read by event date (partition pruning) and event time (Delta's file statistics), so
        the work depends on the lateness and the rate, never on the size of the lake.
        `bounds` (earliest, latest) saves a job when the caller has them already.
        """
        from datetime import timedelta

        from pyspark.sql import functions as F

        if bounds is None:
            first = candidates.agg(F.min("event_time"), F.max("event_time")).first()
            bounds = (first[0], first[1]) if first is not None and first[0] is not None \
                else None
        if bounds is None:
            return self.other_batches(spark, batch_id).limit(0)
        margin = timedelta(milliseconds=self.lateness_ms)
        low, high = bounds[0] - margin, bounds[1] + margin
        return self.other_batches(spark, batch_id).where(
            F.col("event_date").between(F.lit(low.date()), F.lit(high.date()))
            & F.col("event_time").between(F.lit(low), F.lit(high)))

    def other_batches(self, spark: SparkSession, batch_id: int) -> DataFrame:
        """The silver rows every other batch landed."""
        from pyspark.sql import functions as F

        return delta.read_table(spark, self.catalog, SILVER_TRANSACTIONS).where(
            F.col("silver_batch_id") != batch_id)

    def commit(self, landing: SilverLanding) -> None:
        """Append the batch to silver and quarantine, publish it, and record its metrics."""
        import time

        batch_id = landing.batch_id
        rows_out = landing.new_rows.count()
        quarantined = landing.quarantine_rows.count()
        # Empty frames are not written: each write is a Spark job and a Delta commit or Kafka
        # round trip, the fixed cost that dominates a small batch.
        if rows_out:
            delta.append_once(landing.new_rows, self.catalog, SILVER_TRANSACTIONS,
                              SILVER_TRANSACTIONS.name, batch_id)
        if quarantined:
            delta.append_once(landing.quarantine_rows, self.catalog, SILVER_QUARANTINE,
                              SILVER_QUARANTINE.name, batch_id)
        self._publish(landing.new_rows if rows_out else None,
                      landing.quarantine_rows if quarantined else None)
        mirrored = time.perf_counter()
        if rows_out:
            self._mirror_to_postgres(landing.new_rows)
        mirror_ms = (time.perf_counter() - mirrored) * 1000
        postgres.insert_metrics(self.settings, [{
            "layer": "silver", "batch_id": batch_id, "rows_in": landing.checked.count(),
            "rows_out": rows_out,
            "duration_ms": (time.perf_counter() - landing.started) * 1000,
            "details": {"quarantined": quarantined, "postgres_transactions_ms": round(mirror_ms)},
        }])

    def _mirror_to_postgres(self, inserted: DataFrame) -> None:
        """New silver rows to payments.transactions (COPY, idempotent on the payment)."""
        from datetime import UTC, datetime

        from lakehouse.stores.postgres import TRANSACTION_COLUMNS

        if self.settings.postgres.transactions_retention_days:
            rows = inserted.select(*TRANSACTION_COLUMNS).collect()
            postgres.insert_transactions(self.settings, rows, datetime.now(UTC).date())

    def _publish(self, inserted: DataFrame | None, quarantine_rows: DataFrame | None) -> None:
        """New silver rows to `transactions_clean`; quarantined ones to the dead-letter topic."""
        from pyspark.sql import functions as F

        if inserted is not None:
            clean = inserted.select(
                F.col("user_id").cast("binary").alias("key"),
                F.to_json(F.struct(*[c for c in inserted.columns
                                     if c not in ("silver_batch_id", "silver_time")]))
                .cast("binary").alias("value"))
            kafka.write_kafka(clean, self.settings, "transactions_clean")
        if quarantine_rows is None:
            return
        dead = dead_letters(quarantine_rows, self.catalog.table(BRONZE_TRANSACTIONS_RAW))
        kafka.write_kafka(dead, self.settings, "transactions_dlq")


DLQ_MAX_VALUE_BYTES = 16_384
DLQ_MAX_KEY_BYTES = 1_024


def dead_letters(quarantine_rows: DataFrame, bronze_path: str) -> DataFrame:
    """Quarantine rows as dead-letter records any broker accepts: key and value cut to size.

    Headers name the reasons, the source coordinates, the original size, whether the value
    was cut, and the bronze table that keeps the record whole.
    """
    from pyspark.sql import functions as F

    def cut(column: str, limit: int) -> Column:
        return F.when(F.octet_length(column) > limit, F.substring(column, 1, limit)).otherwise(
            F.col(column))

    def header(name: str, value: Column) -> Column:
        return F.struct(F.lit(name).alias("key"), value.cast("binary").alias("value"))

    size = F.coalesce(F.octet_length("value"), F.lit(0))
    return quarantine_rows.select(
        cut("key", DLQ_MAX_KEY_BYTES).alias("key"),
        cut("value", DLQ_MAX_VALUE_BYTES).alias("value"),
        F.array(
            header("reasons", F.concat_ws(",", "reasons")),
            header("source", F.format_string("%s/%d/%d", "source_topic", "source_partition",
                                             "source_offset")),
            header("original_bytes", size.cast("string")),
            header("truncated", F.when(size > DLQ_MAX_VALUE_BYTES, F.lit("true"))
                   .otherwise(F.lit("false"))),
            header("bronze", F.lit(bronze_path)),
        ).alias("headers"))


def start(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
    """Start the bronze -> silver query."""
    catalog = Catalog(settings.lake_location)
    batch = SilverBatch(spark, settings)
    source = spark.readStream.format("delta").option(
        "maxFilesPerTrigger", str(settings.pipeline.max_files_per_trigger)
    ).load(catalog.table(BRONZE_TRANSACTIONS_RAW))
    writer = (source.writeStream.queryName(QUERY_NAME).foreachBatch(batch)
              .option("checkpointLocation", catalog.checkpoint(QUERY_NAME)))
    writer = writer.trigger(availableNow=True) if available_now else writer.trigger(
        processingTime="0 seconds")
    return writer.start()
