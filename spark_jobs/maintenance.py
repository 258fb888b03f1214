"""Delta maintenance: OPTIMIZE (compaction) and VACUUM with a safe retention, table by table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakehouse.catalog import TABLES, Catalog
from lakehouse.settings import Settings
from spark_jobs import io

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

RETENTION_HOURS = 168
"""Delta's default and safe minimum: a week of history for readers and time travel."""


def maintain_all(spark: SparkSession, settings: Settings,
                 retention_hours: int = RETENTION_HOURS) -> list[dict[str, Any]]:
    """Compact then vacuum every table that exists; return files compacted and removed."""
    from delta.tables import DeltaTable

    catalog = Catalog(settings.lake_location)
    done = []
    for name in TABLES:
        path = catalog.table(name)
        if not io.delta_exists(spark, path):
            continue
        table = DeltaTable.forPath(spark, path)
        metrics = table.optimize().executeCompaction().select("metrics.*").first()
        table.vacuum(retention_hours)
        done.append({"table": name,
                     "files_added": int(metrics["numFilesAdded"]) if metrics else 0,
                     "files_removed": int(metrics["numFilesRemoved"]) if metrics else 0})
    return done
