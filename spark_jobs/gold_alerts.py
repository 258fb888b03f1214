"""gold.alerts and its one writer: every alert once, by alert_id, partitioned by event date.

Two callers land alerts here, and only through this module:
- the alert sink's micro-batches (`append_new`): a batch's alerts the table does not hold
  yet, deduplicated against the batch's own event dates only (its work never grows with
  history), appended with (txnAppId, txnVersion = batch id) so a replayed batch is skipped;
- the daily backfill's closed days (`merge_day`): the streamed alerts stay as they are, the
  alerts the batch rules find that the stream did not are added (gold_batch_id
  BACKFILL_BATCH_ID), and the day's partition is rewritten with replaceWhere, so a rerun
  writes the same rows. A day the stream may still append to is only read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from lakehouse.catalog import Catalog
from lakehouse.stores import delta
from lakehouse.tables import GOLD_ALERTS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

GOLD_APP_ID = "gold.alerts/alerts_gold"
"""The Delta transaction app id of the alert sink's appends."""
BACKFILL_BATCH_ID = -1
"""gold_batch_id of alerts the backfill added (the stream's batch ids are >= 0)."""


def append_new(alerts: DataFrame, catalog: Catalog, batch_id: int,
               rule_ids: Sequence[str]) -> None:
    """Append a sink batch's alerts (deduplicated by alert_id) that gold.alerts does not hold,
    once per batch id; only the partitions of the batch's event dates are read."""
    from pyspark.sql import functions as F

    alerts = alerts.withColumn("gold_batch_id", F.lit(batch_id).cast("long"))
    dates = [r[0] for r in alerts.select("event_date").distinct().collect()]
    if not dates:
        return
    spark = alerts.sparkSession
    delta.ensure_table(spark, catalog, GOLD_ALERTS)
    # A replay of this very batch (same id, same rules) does not hide its own rows.
    held = delta.read_table(spark, catalog, GOLD_ALERTS).where(
        F.col("event_date").isin(dates) & ~((F.col("gold_batch_id") == batch_id)
                                            & F.col("rule_id").isin(list(rule_ids))))
    # localCheckpoint, not persist: the append below would make a cached plan that reads
    # gold.alerts recompute (and find its own rows).
    new = alerts.join(held.select("alert_id"), "alert_id", "left_anti").localCheckpoint()
    if not new.isEmpty():
        delta.append_once(new, catalog, GOLD_ALERTS, GOLD_APP_ID, batch_id)


def merge_day(batch: DataFrame, catalog: Catalog, day: date,
              closed: bool) -> tuple[DataFrame, DataFrame]:
    """One day's alerts as held (streamed and earlier backfills) and with the batch rules'
    alerts the table lacks added; when the day is closed, that union replaces the day."""
    from pyspark.sql import functions as F

    batch = batch.withColumn("gold_batch_id", F.lit(BACKFILL_BATCH_ID).cast("long"))
    spark = batch.sparkSession
    delta.ensure_table(spark, catalog, GOLD_ALERTS)
    # Checkpointed: the day's partition is rewritten below, from these very rows.
    kept = delta.read_table(spark, catalog, GOLD_ALERTS).where(
        F.col("event_date") == F.lit(day)).localCheckpoint()
    merged = kept.unionByName(
        batch.join(kept.select("alert_id"), "alert_id", "left_anti")).localCheckpoint()
    if closed:
        delta.replace_day(merged, catalog, GOLD_ALERTS, day)
    return kept, merged


def streamed(kept: DataFrame) -> DataFrame:
    """The alerts of a day that the stream wrote (not an earlier backfill)."""
    from pyspark.sql import functions as F

    return kept.where(F.col("gold_batch_id") != BACKFILL_BATCH_ID)
