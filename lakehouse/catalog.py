"""Where every Delta table and streaming checkpoint lives under the lake root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lakehouse import tables

TABLES = tuple(table.name for table in tables.TABLES)
"""The lake's table names (declared in lakehouse.tables)."""


@dataclass(frozen=True)
class StreamingQuery:
    """A query of `paystream stream`: its checkpoint folder and the Kafka topic it reads."""

    checkpoint: str
    topic: str


STREAMING_QUERIES = {
    "instant": StreamingQuery("instant", "transactions"),
    "stateful": StreamingQuery("stateful_stages", "transactions"),
    "medallion": StreamingQuery("medallion", "transactions"),
    "alerts_postgres": StreamingQuery("alerts_postgres", "alerts"),
    "alerts_gold": StreamingQuery("alerts_gold", "alerts"),
    "decisions_postgres": StreamingQuery("decisions_postgres", "decisions"),
}
"""The pipeline's queries by name, as `paystream stream --query` knows them."""


@dataclass(frozen=True)
class Catalog:
    """Paths of the tables and checkpoints for one lake root."""

    lake_root: Path | str

    def _under(self, *parts: str) -> str:
        """A path below the root: joined as a folder, or with '/' on a URI (abfss://...)."""
        if isinstance(self.lake_root, Path):
            return str(self.lake_root.joinpath(*parts))
        return "/".join([self.lake_root.rstrip("/"), *parts])

    def table(self, table: tables.Table | str) -> str:
        """The path of a table (a lakehouse.tables constant, or its name)."""
        name = str(table)
        if name not in TABLES:
            raise KeyError(f"unknown table {name}")
        layer, table = name.split(".")
        return self._under(layer, table)

    def checkpoint(self, query: str) -> str:
        """The checkpoint folder of a streaming query."""
        return self._under("_checkpoints", query)

    def model(self, name: str, version: int) -> str:
        """The folder of one version of a learned model (its MLlib pipeline)."""
        return self._under("_models", name, f"v{version}")

    def sql_name(self, table: tables.Table | str) -> str:
        """The name a table gets in SQL, such as `silver_transactions`."""
        return str(table).replace(".", "_")
