"""`paystream quarantine`: list silver.quarantine by reason and day, and replay selected rows.

A replay reads the selected rows once, re-sends their original bytes to Kafka
`transactions` (lakehouse.quarantine names the headers it adds), and only then marks
them (`replayed_at`, `replay_id`) in one MERGE. A crash between the two leaves the rows
unmarked, so the next replay sends them again: silver's deduplication by transaction_id
lands such a record once. The listing reads the table with DuckDB (no JVM).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lakehouse.catalog import Catalog
from lakehouse.quarantine import (
    REPLAY_HEADER,
    REPLAY_OF_HEADER,
    ReplayRequest,
    replay_id,
)
from lakehouse.settings import Settings
from lakehouse.stores import delta, kafka
from lakehouse.tables import SILVER_QUARANTINE

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MERGE_ATTEMPTS = 5
"""Marking retries when the stream's quarantine append commits during the MERGE."""


@dataclass(frozen=True)
class QuarantineCount:
    """Quarantined rows of one day and primary reason, and how many were replayed."""

    day: str
    reason: str
    rows: int
    replayed: int


def summary(settings: Settings, request: ReplayRequest) -> list[QuarantineCount]:
    """Counts by day and primary reason of the rows the request's reason and day select,
    replayed or not (newest day first)."""
    from lakehouse.sql_shell import connect_lake, run_query

    conn = connect_lake(settings, [SILVER_QUARANTINE.name])
    name = SILVER_QUARANTINE.sql_name
    columns = {row[0] for row in run_query(conn, f"DESCRIBE {name}").rows} if _exists(
        conn, name) else set()
    if not columns:
        return []
    replayed = "count(replayed_at)" if "replayed_at" in columns else "0"
    where = replace(request, include_replayed=True).where_sql()
    result = run_query(conn, f"SELECT CAST(quarantine_date AS VARCHAR), primary_reason, "
                             f"count(*), {replayed} FROM {name} WHERE {where} "
                             f"GROUP BY 1, 2 ORDER BY 1 DESC, 3 DESC, 2")
    return [QuarantineCount(str(day), str(reason), int(rows), int(done))
            for day, reason, rows, done in result.rows]


def _exists(conn: Any, name: str) -> bool:
    return bool(conn.execute("SELECT count(*) FROM information_schema.tables "
                             "WHERE table_name = ?", [name]).fetchone()[0])


@dataclass(frozen=True)
class ReplayResult:
    """What one replay sent: its id and the number of records re-sent to `transactions`."""

    replay_id: str
    sent: int


def replay_messages(rows: DataFrame, replay: str) -> DataFrame:
    """Quarantine rows as Kafka records: original key, value and headers, plus the replay's."""
    from pyspark.sql import functions as F

    def header(name: str, value: Any) -> Any:
        return F.struct(F.lit(name).alias("key"), value.cast("binary").alias("value"))

    none = F.array().cast("array<struct<key:string,value:binary>>")
    earlier = F.filter(F.coalesce("headers", none),
                       lambda h: ~h["key"].isin(REPLAY_HEADER, REPLAY_OF_HEADER))
    return rows.select("key", "value", F.concat(earlier, F.array(
        header(REPLAY_HEADER, F.lit(replay)),
        header(REPLAY_OF_HEADER, F.format_string("%s/%d/%d", "source_topic",
                                                 "source_partition", "source_offset")),
    )).alias("headers"))


def replay(spark: SparkSession, settings: Settings, request: ReplayRequest,
           now: datetime | None = None) -> ReplayResult:
    """Re-send the selected quarantined records to `transactions`, then mark them replayed."""
    now = now or datetime.now(UTC)
    replay = replay_id(now, request)
    path = Catalog(settings.lake_location).table(SILVER_QUARANTINE)
    if not delta.delta_exists(spark, path):
        return ReplayResult(replay, 0)
    delta.add_missing_columns(spark, Catalog(settings.lake_location), SILVER_QUARANTINE)
    # Checkpointed: the rows sent are exactly the rows marked, whatever lands meanwhile.
    rows = delta.read_delta(spark, path).where(request.where_sql()).localCheckpoint()
    sent = rows.count()
    if not sent:
        return ReplayResult(replay, 0)
    kafka.write_kafka(replay_messages(rows, replay), settings, "transactions")
    coordinates = rows.select("quarantine_date", "source_topic", "source_partition",
                              "source_offset")
    days = sorted({row[0] for row in coordinates.select("quarantine_date").distinct().collect()})
    _mark(spark, path, coordinates, days, replay, now)
    return ReplayResult(replay, sent)


def _mark(spark: SparkSession, path: str, coordinates: DataFrame, days: list[Any],
          replay: str, now: datetime) -> None:
    """Set replayed_at and replay_id on the sent rows, retrying when an append races it."""
    from delta.exceptions import ConcurrentAppendException
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    in_days = ", ".join(f"DATE'{day.isoformat()}'" for day in days)
    condition = (f"t.quarantine_date IN ({in_days}) AND t.source_topic = s.source_topic "
                 "AND t.source_partition = s.source_partition "
                 "AND t.source_offset = s.source_offset")
    for attempt in range(1, MERGE_ATTEMPTS + 1):
        try:
            (DeltaTable.forPath(spark, path).alias("t")
             .merge(coordinates.alias("s"), condition)
             .whenMatchedUpdate(set={"replayed_at": F.lit(now).cast("timestamp"),
                                     "replay_id": F.lit(replay)})
             .execute())
            return
        except ConcurrentAppendException:
            if attempt == MERGE_ATTEMPTS:
                raise
