"""Delta Lake: the handle of every declared table (lakehouse.tables) and the plain reads.

A table is created empty from its declaration (`ensure_table`); `append_once`, `replace_day`
and `replace_table` are the only ways rows land, and each refuses, in one line, a module that
is not a declared writer of the table or rows whose columns drift from its declaration. Appends
carry (txnAppId, txnVersion = batch id), so a batch replayed after a crash is skipped.
"""

from __future__ import annotations

import sys
from datetime import date
from typing import TYPE_CHECKING

from lakehouse.catalog import Catalog
from lakehouse.errors import PaystreamError
from lakehouse.tables import Table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType


def read_delta_stream(spark: SparkSession, path: str) -> DataFrame:
    """A streaming DataFrame over a Delta table's appended rows."""
    return spark.readStream.format("delta").load(path)


def read_delta(spark: SparkSession, path: str, version: int | None = None) -> DataFrame:
    """The current snapshot of a Delta table (or the snapshot of one of its versions)."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(path)


def table_version(spark: SparkSession, path: str) -> int:
    """The newest version (commit number) of the Delta table at the path."""
    newest = spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").select("version").first()
    if newest is None:
        raise PaystreamError(f"{path} has no commit")
    return int(newest[0])


def delta_exists(spark: SparkSession, path: str) -> bool:
    """True when a Delta table exists at the path (one another process committed since this
    session last looked included)."""
    from delta.tables import DeltaTable
    from pyspark.errors import AnalysisException

    if DeltaTable.isDeltaTable(spark, path):
        return True
    # isDeltaTable answers from Delta's cached log: a table this session saw while its first
    # commit was being written (a _delta_log folder, no commit) stays missing for it. Its
    # history reads the log afresh.
    try:
        spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").collect()
    except AnalysisException:
        return False
    return True


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


def add_missing_columns(spark: SparkSession, catalog: Catalog, table: Table) -> list[str]:
    """Add to an existing table the declared columns it lacks (a table an earlier version
    created), as nullable columns at the end; return their names. Call it before any writer
    of the table starts: a schema change beside a running writer fails that writer's commit."""
    path = catalog.table(table)
    if not delta_exists(spark, path):
        return []
    present = set(read_delta(spark, path).columns)
    missing = [f for f in declared_schema(table).fields if f.name not in present]
    if missing:
        columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({columns})")
    return [f.name for f in missing]


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


def replace_table(df: DataFrame, catalog: Catalog, table: Table) -> int:
    """Overwrite every row of a declared table with df in one commit (creating the table if
    needed); return the table's version after it. Only a declared writer may, with rows of
    the declared columns."""
    _check_write(df, table)
    path = catalog.table(table)
    (df.write.format("delta").mode("overwrite").partitionBy(*table.partition_by).save(path))
    return table_version(df.sparkSession, path)


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
