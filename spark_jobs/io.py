"""The only module of the jobs that touches Kafka, Delta and PostgreSQL.

Every write here is idempotent per micro-batch: Delta appends carry
(txnAppId, txnVersion = batch id), so a batch replayed after a crash is
skipped; PostgreSQL upserts on the alert id; Kafka sinks are at-least-once.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from lakehouse.catalog import Catalog
from lakehouse.errors import PaystreamError
from lakehouse.settings import Settings
from lakehouse.tables import Table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType


log = logging.getLogger("paystream.io")

METRICS_RETRY_S = 4.0
"""How long a batch's metrics wait for PostgreSQL before they are dropped (not the batch)."""

MICRO_BATCH_FETCH_WAIT_MS = 10
"""How long the broker may hold a micro-batch task's fetch when no record is there yet.

A cached Kafka consumer leaves a fetch for the next offset in flight at the end of a
batch; with the client default (500 ms) the next batch's tasks waited on it. Measured on
a stateful query at 20 events/s: tasks of 15 ms CPU took 200-520 ms, and a batch ~1 s.
"""


def read_kafka_stream(spark: SparkSession, settings: Settings, topic: str,
                      max_offsets_per_trigger: int | None = None,
                      realtime: bool = False) -> DataFrame:
    """A streaming DataFrame over a Kafka topic, headers included, from the earliest offset.

    A micro-batch reader asks the broker not to hold fetches (MICRO_BATCH_FETCH_WAIT_MS);
    a real-time-mode reader polls continuously and keeps the client's default wait.
    """
    reader = (
        spark.readStream.format("kafka")
        .options(**settings.kafka.spark_options())
        .option("subscribe", topic)
        .option("startingOffsets", settings.pipeline.starting_offsets)
        .option("includeHeaders", "true")
        .option("failOnDataLoss", "false")
    )
    if not realtime:
        reader = reader.option("kafka.fetch.max.wait.ms", str(MICRO_BATCH_FETCH_WAIT_MS))
    if max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets_per_trigger))
    return reader.load()


def read_delta_stream(spark: SparkSession, path: str) -> DataFrame:
    """A streaming DataFrame over a Delta table's appended rows."""
    return spark.readStream.format("delta").load(path)


def read_delta(spark: SparkSession, path: str) -> DataFrame:
    """The current snapshot of a Delta table."""
    return spark.read.format("delta").load(path)


def delta_exists(spark: SparkSession, path: str) -> bool:
    """True when a Delta table exists at the path."""
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, path))


def declared_schema(table: Table) -> StructType:
    """A declared table's schema as Spark types (a session must be active)."""
    from pyspark.sql.types import DataType, StructType

    schema = DataType.fromDDL(table.schema)
    if not isinstance(schema, StructType):
        raise PaystreamError(f"{table}: its declared schema is not a list of columns")
    return schema


def schema_drift(df: DataFrame, table: Table) -> list[str]:
    """How a DataFrame's columns differ from a table's declaration, by name and type
    (nullability and column order aside); empty when it conforms."""
    declared = {f.name: f.dataType.simpleString() for f in declared_schema(table).fields}
    found = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    drift = [f"{name} is {kind}, declared {declared[name]}" for name, kind in found.items()
             if name in declared and kind != declared[name]]
    drift += [f"{name} is not declared" for name in found if name not in declared]
    drift += [f"{name} is missing" for name in declared if name not in found]
    return drift


def _check_write(df: DataFrame, table: Table) -> None:
    """Refuse, in one line, a write whose module is not a declared writer of the table or
    whose columns drift from its declaration."""
    writer = sys._getframe(2).f_globals.get("__name__", "?")
    if writer not in table.writers:
        raise PaystreamError(f"{writer} writes {table}, whose declared writers are "
                             f"{', '.join(table.writers)} (lakehouse/tables.py)")
    drift = schema_drift(df, table)
    if drift:
        raise PaystreamError(f"{writer} writes rows that do not match {table}'s declaration "
                             f"(lakehouse/tables.py): {'; '.join(drift)}")


def ensure_table(spark: SparkSession, catalog: Catalog, table: Table) -> str:
    """Create a declared table, empty, with its declared schema and partitioning if there is
    none yet; return its path."""
    path = catalog.table(table)
    if not delta_exists(spark, path):
        (spark.createDataFrame([], declared_schema(table)).write.format("delta")
         .mode("append").partitionBy(*table.partition_by).save(path))
    return path


def read_table(spark: SparkSession, catalog: Catalog, table: Table) -> DataFrame:
    """A declared table of the lake, as a DataFrame."""
    return read_delta(spark, catalog.table(table))


def append_once(df: DataFrame, catalog: Catalog, table: Table, app_id: str,
                version: int) -> None:
    """Append a batch to a declared table once: a replay of the same (app_id, version), such
    as a micro-batch after a crash, is skipped by Delta. Only a declared writer may, with
    rows of the declared columns."""
    _check_write(df, table)
    (df.write.format("delta").mode("append").partitionBy(*table.partition_by)
     .option("txnAppId", app_id).option("txnVersion", version).save(catalog.table(table)))


def replace_day(df: DataFrame, catalog: Catalog, table: Table, day: date) -> None:
    """Overwrite one day of a declared table with df (creating the table if needed); the day
    is the table's first partition column. Only a declared writer may, with rows of the
    declared columns."""
    if not table.partition_by:
        raise PaystreamError(f"{table} has no day partition to replace")
    _check_write(df, table)
    path = ensure_table(df.sparkSession, catalog, table)
    (df.write.format("delta").mode("overwrite")
     .option("replaceWhere", f"{table.partition_by[0]} = '{day.isoformat()}'")
     .partitionBy(*table.partition_by).save(path))


@contextlib.contextmanager
def spark_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """Set a session setting for the block, then put back what was there."""
    before = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def write_kafka(df: DataFrame, settings: Settings, topic: str) -> None:
    """Write rows with key, value and optional headers columns to a Kafka topic."""
    (df.write.format("kafka")
     .options(**settings.kafka.spark_options())
     .option("kafka.acks", "all")
     .option("kafka.linger.ms", "5")
     .option("topic", topic).save())


def utc(moment: datetime) -> datetime:
    """A naive Spark timestamp (UTC session) as an aware UTC datetime."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def postgres_connection(settings: Settings) -> Any:
    """A connection to the payments database as the owner role."""
    from lakehouse.stores.postgres import connect

    return connect(settings.postgres_url())


ALERT_INSERT = (
    "INSERT INTO payments.alerts (alert_id, rule_id, severity, transaction_id, user_id, "
    "merchant_id, amount_eur, event_time, detected_at, details) VALUES %s "
    "ON CONFLICT (alert_id) DO NOTHING"
)


def backoff_delays(budget_s: float, first_s: float = 0.5, cap_s: float = 10.0) -> list[float]:
    """The waits between attempts: doubling from `first_s`, at most `cap_s`, summing to no
    more than `budget_s` (pure)."""
    delays: list[float] = []
    delay = first_s
    while sum(delays) + delay <= budget_s:
        delays.append(delay)
        delay = min(delay * 2, cap_s)
    return delays


def with_postgres(settings: Settings, work: Callable[[Any], None], budget_s: float) -> None:
    """Run `work(cursor)` in one transaction; while PostgreSQL is away (restart, failover) try
    again with backoff for up to `budget_s` seconds, then raise."""
    import time

    import psycopg2

    for delay in [*backoff_delays(budget_s), None]:
        try:
            conn = postgres_connection(settings)
            try:
                with conn, conn.cursor() as cur:
                    work(cur)
                return
            finally:
                conn.close()
        except (psycopg2.OperationalError, PaystreamError) as error:
            if delay is None:
                raise
            log.warning("PostgreSQL unavailable (%s); retrying in %.1f s",
                        " ".join(str(error).split())[:200], delay)
            time.sleep(delay)


def postgres_row(row: Sequence[Any], json_columns: Sequence[int] = ()) -> tuple[Any, ...]:
    """A row PostgreSQL can hold: text cannot contain NUL, nor jsonb the escape \\u0000, so
    each becomes U+FFFD (a valid payment may carry NUL in an id; the lake keeps it as sent)."""
    def safe(index: int, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = value.replace("\x00", "\ufffd")
        return value.replace("\\u0000", "\\ufffd") if index in json_columns else value

    return tuple(safe(index, value) for index, value in enumerate(row))


def upsert_alerts(settings: Settings, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert alerts into payments.alerts; an alert id seen before is left as it is.

    While PostgreSQL is away the batch waits (pipeline.postgres_retry_s) rather than die or
    skip: the query commits its offsets only after the alerts are in.
    """
    if not rows:
        return
    from psycopg2.extras import execute_values

    safe = [postgres_row(row, json_columns=(9,)) for row in rows]
    with_postgres(settings, lambda cur: execute_values(cur, ALERT_INSERT, safe, page_size=1000),
                  settings.pipeline.postgres_retry_s)


DECISION_INSERT = (
    "INSERT INTO payments.decisions (transaction_id, user_id, merchant_id, amount_eur, "
    "event_time, decided_at, risk_score, decision, contributions, fired, features) VALUES %s "
    "ON CONFLICT (transaction_id) DO NOTHING"
)


def upsert_decisions(settings: Settings, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert flagged decisions into payments.decisions; a transaction held is left as it is
    (waiting for PostgreSQL as upsert_alerts does)."""
    if not rows:
        return
    from psycopg2.extras import execute_values

    safe = [postgres_row(row, json_columns=(8, 9, 10)) for row in rows]
    with_postgres(settings,
                  lambda cur: execute_values(cur, DECISION_INSERT, safe, page_size=1000),
                  settings.pipeline.postgres_retry_s)


def insert_transactions(settings: Settings, rows: Sequence[Sequence[Any]], today: date) -> int:
    """Copy new silver payments (TRANSACTION_COLUMNS) into payments.transactions, creating
    each day's partition first; a payment held is left as it is, days older than the
    retention are skipped. Waits for PostgreSQL as upsert_alerts does; returns rows offered."""
    from io import StringIO

    from lakehouse.stores.postgres import (
        TRANSACTION_COLUMNS,
        copy_text_row,
        retention_cutoff,
        transactions_partition_ddl,
    )

    retention = settings.postgres.transactions_retention_days
    if not retention or not rows:
        return 0
    cutoff = retention_cutoff(today, retention)
    kept = [row for row in rows if row[1] >= cutoff]
    if not kept:
        return 0
    text = "".join(copy_text_row(row) for row in kept)
    columns = ", ".join(TRANSACTION_COLUMNS)

    def write(cur: Any) -> None:
        cur.execute("SET LOCAL TIME ZONE 'UTC'")  # Spark's timestamps are UTC, without a zone
        for day in sorted({row[1] for row in kept}):
            cur.execute(transactions_partition_ddl(day))
        cur.execute("CREATE TEMP TABLE incoming_transactions "
                    "(LIKE payments.transactions INCLUDING DEFAULTS) ON COMMIT DROP")
        cur.copy_expert(f"COPY incoming_transactions ({columns}) FROM STDIN", StringIO(text))
        cur.execute(f"INSERT INTO payments.transactions ({columns}) SELECT {columns} "
                    "FROM incoming_transactions ON CONFLICT DO NOTHING")

    with_postgres(settings, write, settings.pipeline.postgres_retry_s)
    return len(kept)


def drop_expired_transactions(settings: Settings, today: date) -> list[str]:
    """Drop the day partitions of payments.transactions older than the retention (whole
    tables, never row by row); return the names dropped."""
    from lakehouse.stores.postgres import partition_day, retention_cutoff

    retention = settings.postgres.transactions_retention_days
    dropped: list[str] = []
    if not retention:
        return dropped
    cutoff = retention_cutoff(today, retention)

    def drop(cur: Any) -> None:
        cur.execute("SELECT c.relname FROM pg_inherits i "
                    "JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_class p ON p.oid = i.inhparent "
                    "JOIN pg_namespace n ON n.oid = p.relnamespace "
                    "WHERE n.nspname = 'payments' AND p.relname = 'transactions'")
        for (name,) in cur.fetchall():
            day = partition_day(name)
            if day is not None and day < cutoff:
                cur.execute(f'DROP TABLE payments."{name}"')
                dropped.append(name)

    with_postgres(settings, drop, settings.pipeline.postgres_retry_s)
    return sorted(dropped)


def pending_dispositions(settings: Settings) -> list[tuple[str, str, Any]]:
    """(transaction_id, disposition, decided_at) of the analysts' words not yet in gold.labels."""
    found: list[tuple[str, str, Any]] = []

    def read(cur: Any) -> None:
        cur.execute("SELECT transaction_id, disposition, decided_at "
                    "FROM payments.alert_dispositions "
                    "WHERE synced_at IS NULL OR decided_at > synced_at ORDER BY decided_at")
        found.extend(cur.fetchall())

    with_postgres(settings, read, settings.pipeline.postgres_retry_s)
    return found


def mark_dispositions_synced(settings: Settings, synced: Sequence[tuple[str, Any]]) -> None:
    """Record (transaction_id, decided_at) pairs as synced; a word changed since stays pending."""
    if not synced:
        return
    from psycopg2.extras import execute_values

    with_postgres(settings, lambda cur: execute_values(
        cur, "UPDATE payments.alert_dispositions d SET synced_at = v.decided_at "
             "FROM (VALUES %s) AS v (transaction_id, decided_at) "
             "WHERE d.transaction_id = v.transaction_id AND d.decided_at = v.decided_at",
        list(synced), template="(%s, %s::timestamptz)"), settings.pipeline.postgres_retry_s)


def insert_metrics(settings: Settings, rows: Sequence[dict[str, Any]]) -> None:
    """Append per-batch metrics to payments.pipeline_metrics, best effort: with PostgreSQL
    away for more than a few seconds the batch's metrics are dropped (logged), never the
    batch."""
    if not rows:
        return
    import json

    import psycopg2
    from psycopg2.extras import execute_values

    def insert(cur: Any) -> None:
        execute_values(
            cur,
            "INSERT INTO payments.pipeline_metrics (layer, batch_id, rows_in, rows_out, "
            "duration_ms, lag_records, alert_latency_p50_ms, alert_latency_p99_ms, details) "
            "VALUES %s",
            [(r["layer"], r["batch_id"], r.get("rows_in", 0), r.get("rows_out", 0),
              r.get("duration_ms"), r.get("lag_records"), r.get("alert_latency_p50_ms"),
              r.get("alert_latency_p99_ms"), json.dumps(r.get("details", {})))
             for r in rows],
        )

    try:
        with_postgres(settings, insert, METRICS_RETRY_S)
    except (psycopg2.OperationalError, PaystreamError) as error:
        log.warning("dropped the metrics of %s batch %s: %s", rows[0]["layer"],
                    rows[0]["batch_id"], " ".join(str(error).split())[:200])


def upsert_daily_report(settings: Settings, day: Any, report: dict[str, Any]) -> None:
    """Mirror one day's report to payments.daily_reports (replacing an earlier run's)."""
    import json

    conn = postgres_connection(settings)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO payments.daily_reports (report_date, report, generated_at) "
                "VALUES (%s, %s, now()) ON CONFLICT (report_date) DO UPDATE "
                "SET report = EXCLUDED.report, generated_at = EXCLUDED.generated_at",
                (day, json.dumps(report)))
    finally:
        conn.close()
