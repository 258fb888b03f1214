"""Run the Great Expectations suites on the lake tables, build Data Docs, record the results.

Used by `paystream dq` and the data_quality DAG. The GX project (suites,
validation results, Data Docs HTML) lives under `$PAYSTREAM_HOME/great_expectations`;
each run's summary goes to PostgreSQL payments.dq_results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expectations.suites import CRITICAL, SUITES
from lakehouse.catalog import Catalog
from lakehouse.settings import Settings
from lakehouse.tables import GOLD_DAILY_REPORT, SILVER_TRANSACTIONS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class SuiteOutcome:
    """The result of one suite on one table."""

    suite: str
    table: str
    success: bool
    evaluated: int
    failed: int
    failed_critical: list[str] = field(default_factory=list)
    failed_warning: list[str] = field(default_factory=list)
    docs_url: str | None = None

    @property
    def critical_failure(self) -> bool:
        """True when a critical expectation failed."""
        return bool(self.failed_critical)


def gx_project_dir(settings: Settings) -> Path:
    """Where the GX file project (and its Data Docs) lives."""
    return settings.home / "great_expectations"


def table_frames(spark: SparkSession, settings: Settings) -> dict[str, DataFrame]:
    """Each checked table as a DataFrame, with the derived columns its suite needs."""
    from pyspark.sql import functions as F

    from lakehouse.stores import delta

    catalog = Catalog(settings.lake_location)
    frames: dict[str, DataFrame] = {}
    for table in SUITES:
        path = catalog.table(table)
        if delta.delta_exists(spark, path):
            frames[table] = delta.read_delta(spark, path)
    if SILVER_TRANSACTIONS.name in frames:
        silver = frames[SILVER_TRANSACTIONS.name]
        frames[SILVER_TRANSACTIONS.name] = silver.withColumns({
            "event_age_at_arrival_s": F.unix_timestamp("kafka_timestamp")
            - F.unix_timestamp("event_time"),
            "event_age_now_s": F.unix_timestamp(F.current_timestamp())
            - F.unix_timestamp("event_time"),
        })
        if GOLD_DAILY_REPORT.name in frames:
            totals = silver.groupBy(F.col("event_date").alias("report_date")).agg(
                F.count(F.lit(1)).alias("silver_payments"),
                F.sum("amount_eur").cast("decimal(18,2)").alias("silver_amount_eur"))
            report = GOLD_DAILY_REPORT.name
            frames[report] = frames[report].join(
                totals, "report_date", "left").fillna(0, ["silver_payments"]).withColumn(
                "silver_amount_eur", F.coalesce("silver_amount_eur", F.lit(0).cast(
                    "decimal(18,2)")))
    return frames


def _describe(result: Any) -> str:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k in ("column", "column_list",
                                                               "column_A", "column_B")}
    return f"{config.type}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"


def _is_critical(result: Any) -> bool:
    config = result.expectation_config
    return config is not None and str(getattr(config.severity, "value", config.severity)) == str(
        CRITICAL.value)


def run_suites(spark: SparkSession, settings: Settings,
               frames: dict[str, DataFrame] | None = None) -> list[SuiteOutcome]:
    """Validate every table that exists against its suite; build Data Docs; return outcomes."""
    import great_expectations as gx

    frames = table_frames(spark, settings) if frames is None else frames
    context = gx.get_context(mode="file", project_root_dir=str(gx_project_dir(settings)))
    source = context.data_sources.add_or_update_spark(name="paystream_lake")
    outcomes = []
    for table, frame in frames.items():
        suite = context.suites.add_or_update(SUITES[table](settings))
        asset_name = table.replace(".", "_")
        try:
            asset = source.get_asset(asset_name)
        except LookupError:
            asset = source.add_dataframe_asset(name=asset_name)
        try:
            batch_definition = asset.get_batch_definition("whole_table")
        except KeyError:
            batch_definition = asset.add_batch_definition_whole_dataframe("whole_table")
        validation = context.validation_definitions.add_or_update(gx.ValidationDefinition(
            name=f"{asset_name}_validation", data=batch_definition, suite=suite))
        checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
            name=f"{asset_name}_checkpoint", validation_definitions=[validation],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
            result_format={"result_format": "SUMMARY"}))
        result = checkpoint.run(batch_parameters={"dataframe": frame})
        for suite_result in result.run_results.values():
            failed = [r for r in suite_result.results if not r.success]
            critical = [_describe(r) for r in failed if _is_critical(r)]
            warning = [_describe(r) for r in failed if _describe(r) not in critical]
            stats = suite_result.statistics
            outcomes.append(SuiteOutcome(
                suite=suite.name, table=table, success=bool(suite_result.success),
                evaluated=int(stats["evaluated_expectations"]),
                failed=int(stats["unsuccessful_expectations"]),
                failed_critical=critical, failed_warning=warning))
    context.build_data_docs()
    docs = docs_index(settings)
    return [SuiteOutcome(**{**o.__dict__, "docs_url": docs.as_uri() if docs else None})
            for o in outcomes]


def docs_index(settings: Settings) -> Path | None:
    """The Data Docs index.html, once built."""
    found = sorted(gx_project_dir(settings).glob("**/data_docs/local_site/index.html"))
    return found[0] if found else None


def dq_result_rows(outcomes: list[SuiteOutcome], run_id: str) -> list[tuple[Any, ...]]:
    """One payments.dq_results row per suite, in the store's DQ_RESULT_COLUMNS order (pure)."""
    return [(run_id, o.suite, o.success, o.evaluated, o.failed, o.docs_url,
             json.dumps({"table": o.table, "failed_critical": o.failed_critical,
                         "failed_warning": o.failed_warning}))
            for o in outcomes]


def record_outcomes(settings: Settings, outcomes: list[SuiteOutcome], run_id: str) -> None:
    """Store one row per suite in payments.dq_results (as the owner role)."""
    from lakehouse.stores.postgres import record_dq_results

    record_dq_results(settings.postgres_url(), dq_result_rows(outcomes, run_id))


def new_run_id() -> str:
    """A sortable id for one data-quality run."""
    return datetime.now(UTC).strftime("dq-%Y%m%dT%H%M%S%fZ")


def summary_lines(outcomes: list[SuiteOutcome]) -> list[str]:
    """A readable summary: one line per suite, then each failed expectation."""
    lines = []
    for o in outcomes:
        verdict = "ok" if o.success else ("FAILED" if o.critical_failure else "warning")
        lines.append(f"{o.suite:<26} {verdict:<8} {o.evaluated - o.failed}/{o.evaluated} "
                     "expectations met")
        lines += [f"    critical: {name}" for name in o.failed_critical]
        lines += [f"    warning:  {name}" for name in o.failed_warning]
    return lines
