"""Test helpers that land hand-made rows in a lake as its writers would leave them."""

from __future__ import annotations

from typing import Any

from lakehouse.catalog import Catalog
from lakehouse.stores import delta
from lakehouse.tables import SILVER_TRANSACTIONS


def write_as_silver(frame: Any, catalog: Catalog) -> None:
    """Write `frame` as silver.transactions: its columns cast to the declared types, the
    declared columns it lacks null, partitioned as declared."""
    from pyspark.sql import functions as F

    declared = delta.declared_schema(SILVER_TRANSACTIONS)
    silver = frame.select(*[F.col(f.name).cast(f.dataType) if f.name in frame.columns
                            else F.lit(None).cast(f.dataType).alias(f.name)
                            for f in declared.fields])
    (silver.write.format("delta").partitionBy(*SILVER_TRANSACTIONS.partition_by)
     .save(catalog.table(SILVER_TRANSACTIONS)))
