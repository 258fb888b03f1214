"""What the dashboard reads: PostgreSQL through the read-only role, the Delta tables through DuckDB.

The PostgreSQL statements live in the store (lakehouse.stores.postgres, one named function
each, every one bounded and served by an index); `pg_frame` runs one of them on a read-only
connection and returns a pandas DataFrame. The DuckDB queries over the lake stay here; their
builders are pure (tested without services).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

import pandas as pd

from lakehouse.settings import Settings, load_settings
from lakehouse.stores import postgres
from lakehouse.stores.postgres import Rows

if TYPE_CHECKING:
    from psycopg2.extensions import connection

P = ParamSpec("P")


def settings() -> Settings:
    """The settings of this process (env and profile), read per call: cheap and test-friendly."""
    return load_settings()


def frame_of(rows: Rows) -> pd.DataFrame:
    """A store query's rows as a DataFrame with the query's column names (pure)."""
    return pd.DataFrame(rows.rows, columns=list(rows.columns))


def pg_frame(dsn: str, query: Callable[Concatenate[connection, P], Rows], *args: P.args,
             **kwargs: P.kwargs) -> pd.DataFrame:
    """Run one store query (a function of lakehouse.stores.postgres) on a read-only connection
    and return its rows as a DataFrame."""
    with postgres.read_only(dsn) as conn:
        return frame_of(query(conn, *args, **kwargs))


def lake_frame(lake_root: str, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    """Run DuckDB SQL over the Delta tables; an absent table gives an empty frame."""
    import duckdb

    from lakehouse.sql_shell import connect_lake, tables_named_in

    # Only the tables the query names: each registration reads that table's Delta log.
    conn = connect_lake(load_settings(lake_root=lake_root), tables_named_in(sql))
    try:
        return conn.execute(sql, params or []).df()
    except duckdb.CatalogException:
        return pd.DataFrame()
    finally:
        conn.close()


def query_progress(settings: Settings) -> pd.DataFrame:
    """Each streaming query's last batch, lag and records/s (checkpoints and Kafka end offsets);
    lag stays empty when Kafka does not answer."""
    from lakehouse.catalog import STREAMING_QUERIES
    from lakehouse.stream_progress import query_progress as progress_of
    from lakehouse.stream_progress import topic_end_offsets

    topics = sorted({spec.topic for spec in STREAMING_QUERIES.values()})
    try:
        ends = topic_end_offsets(settings.kafka, topics)
    except Exception:  # noqa: BLE001 - Kafka down: show progress without lag
        ends = {}
    found = progress_of(settings.lake, ends) if settings.lake_is_local else []  # checkpoints
    rows = [p for p in found if p.batch is not None]
    return pd.DataFrame(
        [(p.query, p.topic, p.batch, p.lag_records, p.records_per_s, p.last_commit)
         for p in rows],
        columns=["query", "topic", "last batch", "lag (records)", "records/s",
                 "last commit (UTC)"])


def volume_over_time_sql(bucket: str, by: str) -> str:
    """DuckDB SQL: payments and EUR per time bucket, split by currency or country (pure)."""
    if bucket not in ("minute", "hour") or by not in ("currency", "country"):
        raise ValueError(f"unsupported bucket {bucket!r} or split {by!r}")
    return (f"SELECT date_trunc('{bucket}', event_time) AS bucket, {by}, count(*) AS payments, "
            "sum(amount_eur) AS amount_eur FROM silver_transactions "
            "WHERE event_time >= ? GROUP BY ALL ORDER BY 1")


def report_dates(lake_root: str) -> list[date]:
    """Dates that have a daily report, newest first."""
    frame = lake_frame(lake_root, "SELECT report_date FROM gold_daily_report ORDER BY 1 DESC")
    return [] if frame.empty else [d.date() if hasattr(d, "date") else d
                                   for d in frame["report_date"]]


def backtest_reports(folder: Path) -> list[dict[str, Any]]:
    """The stored backtest reports (their JSON), newest first; unreadable files are skipped."""
    import json

    found = []
    for path in folder.glob("*.json"):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and {"made_at", "overall", "rules"} <= set(document):
            found.append(document)
    return sorted(found, key=lambda d: str(d["made_at"]), reverse=True)


RISK_MODELS_SQL = (
    "SELECT version, status, train_from || ' .. ' || train_to AS \"trained on\", "
    "valid_from || ' .. ' || valid_to AS \"validated on\", labels_known_at AS \"labels as of\", "
    "threshold, compared_precision AS \"decisions precision\", "
    "compared_recall AS \"decisions recall\", champion_precision AS \"before precision\", "
    "champion_recall AS \"before recall\", valid_auc_pr AS \"PR AUC\", note "
    "FROM gold_risk_models ORDER BY version DESC")
"""gold.risk_models as the Backtests page lists it: the decisions' precision and recall on the
validation days with the model, and before it (the champion then, or the rules alone)."""


def risk_models(lake_root: str) -> pd.DataFrame:
    """The registered risk models, newest first (empty before the first is trained)."""
    return lake_frame(lake_root, RISK_MODELS_SQL)


def rule_precision(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of postgres.dispositions_per_day_and_rule with their precision: confirmed /
    (confirmed + cleared), empty when nothing was judged (pure)."""
    if frame.empty:
        return frame.assign(precision=pd.Series(dtype=float))
    judged = frame["confirmed"] + frame["cleared"]
    return frame.assign(precision=frame["confirmed"] / judged.where(judged > 0))
