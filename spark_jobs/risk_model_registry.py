"""gold.risk_models, the registry of learned risk models: its only writer.

Each change replaces the (small) table in one commit: a trained challenger is appended
(spark_jobs.risk_model_training), a comparison sets its status (champion, rejected), a new
champion retires the one before, `paystream model retire` takes the champion out, and
adopt_champion copies another lake's champion in. Readers use spark_jobs.risk_model.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lakehouse.catalog import Catalog
from lakehouse.errors import PaystreamError
from lakehouse.settings import Settings
from lakehouse.stores import delta
from lakehouse.tables import GOLD_RISK_MODELS
from spark_jobs.risk_model import (
    CHALLENGER,
    CHAMPION,
    MODEL_NAME,
    RETIRED,
    registry_rows,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def row_values(row: Any) -> dict[str, Any]:
    """A registry row as a plain dict (importances as (name, value) pairs)."""
    values: dict[str, Any] = row.asDict(recursive=False)
    values["importances"] = [(i["name"], i["value"]) for i in values["importances"] or []]
    return values


def write_registry(spark: SparkSession, settings: Settings,
                   rows: Sequence[dict[str, Any]]) -> int:
    """Replace gold.risk_models with `rows` (dicts of its columns); return the new version."""
    schema = delta.declared_schema(GOLD_RISK_MODELS)
    frame = spark.createDataFrame([tuple(r.get(f.name) for f in schema.fields) for r in rows],
                                  schema)
    return delta.replace_table(frame, Catalog(settings.lake_location), GOLD_RISK_MODELS)


def next_version(rows: Sequence[dict[str, Any]]) -> int:
    """One more than the newest registered version (1 for the first) (pure)."""
    return max((int(r["version"]) for r in rows), default=0) + 1


def with_status(rows: Sequence[dict[str, Any]], version: int, status: str, decided_at: datetime,
                note: str, **figures: Any) -> list[dict[str, Any]]:
    """The registry rows with `version` set to `status` (and `figures`); promoting a champion
    retires the one before it (pure)."""
    out = []
    for row in rows:
        if int(row["version"]) == version:
            row = {**row, **figures, "status": status, "decided_at": decided_at, "note": note}
        elif status == CHAMPION and row["status"] == CHAMPION:
            row = {**row, "status": RETIRED, "decided_at": decided_at,
                   "note": f"replaced by version {version}"}
        out.append(row)
    return out


def retire(spark: SparkSession, settings: Settings) -> int | None:
    """Take the champion out of the decisions (it becomes `retired`); its version, or None."""
    registry = [row_values(r) for r in registry_rows(spark, settings)]
    champion = next((r for r in registry if r["status"] == CHAMPION), None)
    if champion is None:
        return None
    write_registry(spark, settings, [
        replace_row(r, status=RETIRED, decided_at=datetime.now(UTC), note="retired by hand")
        if r is champion else r for r in registry])
    return int(champion["version"])


def replace_row(row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A registry row with some columns changed (pure)."""
    return {**row, **changes}


def percent(value: float | None) -> str:
    """A share as a percentage to one place, `-` when missing (pure)."""
    return "-" if value is None else f"{value:.1%}"


def format_registry(rows: Sequence[Any]) -> str:
    """gold.risk_models as a table, newest version first (pure)."""
    from spark_jobs.backtest_report import table

    if not rows:
        return "no risk model is registered yet: `paystream model train`"
    return table([(str(r["version"]), r["status"], f"{r['train_from']} .. {r['train_to']}",
                   f"{r['valid_from']} .. {r['valid_to']}", f"{r['threshold']:.4f}",
                   f"{percent(r['valid_precision'])} / {percent(r['valid_recall'])}",
                   f"{percent(r['compared_precision'])} / {percent(r['compared_recall'])}",
                   f"{percent(r['champion_precision'])} / {percent(r['champion_recall'])}",
                   r["note"] or "") for r in rows],
                 ("version", "status", "trained on", "validated on", "threshold",
                  "at threshold P / R", "backtest P / R", "before P / R", "note"))


def adopt_champion(spark: SparkSession, settings: Settings, source: Settings) -> int:
    """Make the champion of another lake (`source`) this lake's champion: its pipeline copied
    under this lake's models, its row registered with where it came from; its version here."""
    from pyspark.ml import PipelineModel

    theirs = next((row_values(r) for r in registry_rows(spark, source)
                   if r["status"] == CHAMPION), None)
    if theirs is None:
        raise PaystreamError(f"the lake {source.lake_location} has no champion risk model")
    registry = [row_values(r) for r in registry_rows(spark, settings)]
    version = next_version(registry)
    path = Catalog(settings.lake_location).model(MODEL_NAME, version)
    PipelineModel.load(theirs["path"]).write().overwrite().save(path)
    note = f"adopted from {source.lake_location} version {theirs['version']}"
    registry.append({**theirs, "version": version, "path": path, "status": CHALLENGER})
    write_registry(spark, settings, with_status(registry, version, CHAMPION, datetime.now(UTC),
                                                note))
    return version
