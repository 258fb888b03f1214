"""What the dashboard reads: PostgreSQL through the read-only role, the Delta tables through DuckDB.

Query builders are pure (tested without services); the fetch functions do the
I/O and return pandas DataFrames. Every PostgreSQL query is bounded (a time
window or a LIMIT) and served by an index of `payments`, so pages stay fast
with millions of alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from lakehouse.settings import Settings, load_settings

ALERT_COLUMNS = ("detected_at", "rule_id", "severity", "user_id", "merchant_id", "amount_eur",
                 "event_time", "transaction_id", "alert_id")


def settings() -> Settings:
    """The settings of this process (env and profile), read per call: cheap and test-friendly."""
    return load_settings()


@dataclass(frozen=True)
class AlertFilter:
    """The live alerts page's filters; empty means no filter."""

    rules: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    user_id: str = ""
    merchant_id: str = ""
    since: datetime | None = None
    until: datetime | None = None


def alerts_query(f: AlertFilter, limit: int) -> tuple[str, list[Any]]:
    """SQL and parameters for the newest alerts matching the filter (pure)."""
    where: list[str] = []
    params: list[Any] = []
    if f.rules:
        where.append("rule_id = ANY(%s)")
        params.append(list(f.rules))
    if f.severities:
        where.append("severity = ANY(%s)")
        params.append(list(f.severities))
    if f.user_id:
        where.append("user_id = %s")
        params.append(f.user_id.strip())
    if f.merchant_id:
        where.append("merchant_id = %s")
        params.append(f.merchant_id.strip())
    if f.since:
        where.append("detected_at >= %s")
        params.append(f.since)
    if f.until:
        where.append("detected_at < %s")
        params.append(f.until)
    sql = (f"SELECT {', '.join(ALERT_COLUMNS)}, details FROM payments.alerts"
           + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY detected_at DESC, alert_id LIMIT %s")
    return sql, [*params, limit]


def pg_frame(dsn: str, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> pd.DataFrame:
    """Run a read-only query and return its rows as a DataFrame."""
    from lakehouse.stores.postgres import connect

    conn = connect(dsn)
    try:
        conn.set_session(readonly=True, autocommit=True)
        with conn.cursor() as cur:
            cur.execute(sql, params)
            columns = [d[0] for d in cur.description or []]
            return pd.DataFrame(cur.fetchall(), columns=columns)
    finally:
        conn.close()


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


METRICS_SUMMARY = """
SELECT layer,
       sum(rows_in) AS rows_in,
       sum(rows_in) / greatest(extract(epoch FROM max(recorded_at) - min(recorded_at)), 1)
           AS events_per_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY alert_latency_p50_ms) AS latency_p50_ms,
       max(alert_latency_p99_ms) AS latency_p99_ms,
       max(lag_records) AS lag_records
FROM payments.pipeline_metrics
WHERE recorded_at >= now() - make_interval(mins => %s)
GROUP BY layer ORDER BY layer
"""

LAST_BATCH_PER_LAYER = """
SELECT DISTINCT ON (layer) layer, batch_id, rows_in, rows_out, duration_ms, recorded_at
FROM payments.pipeline_metrics ORDER BY layer, recorded_at DESC
"""

LATEST_DQ_PER_SUITE = """
SELECT DISTINCT ON (suite) suite, success, expectations_evaluated, expectations_failed,
       run_at, docs_url, details
FROM payments.dq_results ORDER BY suite, run_at DESC
"""

DQ_HISTORY = """
SELECT run_at, suite, success, expectations_evaluated, expectations_failed
FROM payments.dq_results ORDER BY run_at DESC LIMIT 500
"""

ALERTS_OVER_TIME = """
SELECT date_trunc(%s, detected_at) AS bucket, rule_id, count(*) AS alerts
FROM payments.alerts WHERE detected_at >= now() - make_interval(hours => %s)
GROUP BY 1, 2 ORDER BY 1
"""


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


REVIEW_QUEUE = """
SELECT d.transaction_id, d.risk_score, d.decision, d.amount_eur, d.user_id, d.merchant_id,
       d.event_time, d.decided_at, d.fired, d.contributions, d.features
FROM payments.decisions d
LEFT JOIN payments.alert_dispositions a ON a.transaction_id = d.transaction_id
WHERE a.transaction_id IS NULL
ORDER BY d.risk_score DESC, d.decided_at DESC, d.transaction_id
LIMIT %s
"""
"""The payments sent to review or block that no analyst has judged, highest score first."""

RULE_PRECISION = """
SELECT date_trunc('day', d.decided_at) AS day, a.rule_id,
       count(*) FILTER (WHERE d.disposition = 'confirmed_fraud') AS confirmed,
       count(*) FILTER (WHERE d.disposition = 'false_positive') AS cleared
FROM payments.alert_dispositions d
JOIN payments.alerts a ON a.transaction_id = d.transaction_id
WHERE d.decided_at >= now() - make_interval(days => %s)
GROUP BY 1, 2 ORDER BY 1, 2
"""
"""Per day and rule: the dispositions of the payments its alerts flagged."""

DISPOSITION_UPSERT = """
INSERT INTO payments.alert_dispositions (transaction_id, alert_id, disposition, analyst, note,
                                         decided_at)
VALUES (%s, %s, %s, %s, %s, now())
ON CONFLICT (transaction_id) DO UPDATE
SET alert_id = EXCLUDED.alert_id, disposition = EXCLUDED.disposition,
    analyst = EXCLUDED.analyst, note = EXCLUDED.note, decided_at = EXCLUDED.decided_at
"""

DISPOSITIONS = ("confirmed_fraud", "false_positive")


def record_disposition(analyst_dsn: str, transaction_id: str, disposition: str, analyst: str,
                       note: str = "", alert_id: str | None = None) -> None:
    """An analyst's word on a payment, through the analyst role (the newest word wins)."""
    from lakehouse.stores.postgres import connect

    if disposition not in DISPOSITIONS:
        raise ValueError(f"disposition must be one of {', '.join(DISPOSITIONS)}")
    conn = connect(analyst_dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(DISPOSITION_UPSERT, (transaction_id, alert_id, disposition,
                                             analyst.strip() or "analyst", note or None))
    finally:
        conn.close()


def rule_precision(frame: pd.DataFrame) -> pd.DataFrame:
    """RULE_PRECISION rows with precision = confirmed / (confirmed + cleared) (pure)."""
    if frame.empty:
        return frame.assign(precision=pd.Series(dtype=float))
    judged = frame["confirmed"] + frame["cleared"]
    return frame.assign(precision=frame["confirmed"] / judged.where(judged > 0))


PAYMENT_COLUMNS = ("event_time", "transaction_id", "user_id", "card_id", "amount", "currency",
                   "amount_eur", "merchant_id", "merchant_category", "country", "city",
                   "channel")
"""What the payment search shows of a payment (payments.transactions)."""


def payment_search_queries(term: str, limit: int) -> dict[str, tuple[str, list[Any]]]:
    """SQL and parameters of the payment search for one id (pure): the payment with that
    transaction id, its decision and alerts, and the newest payments of that id as a user or a
    merchant (each served by an index of payments.transactions)."""
    term = term.strip()
    columns = ", ".join(PAYMENT_COLUMNS)
    return {
        "payment": (f"SELECT {columns} FROM payments.transactions WHERE transaction_id = %s "
                    "ORDER BY event_time DESC LIMIT 1", [term]),
        "decision": ("SELECT decision, risk_score, contributions, fired, decided_at "
                     "FROM payments.decisions WHERE transaction_id = %s", [term]),
        "alerts": (f"SELECT {', '.join(ALERT_COLUMNS)} FROM payments.alerts "
                   "WHERE transaction_id = %s ORDER BY detected_at DESC LIMIT %s", [term, limit]),
        "by_user": (f"SELECT {columns} FROM payments.transactions WHERE user_id = %s "
                    "ORDER BY event_time DESC LIMIT %s", [term, limit]),
        "by_merchant": (f"SELECT {columns} FROM payments.transactions WHERE merchant_id = %s "
                        "ORDER BY event_time DESC LIMIT %s", [term, limit]),
    }


NEWEST_PAYMENTS = (f"SELECT {', '.join(PAYMENT_COLUMNS)} FROM payments.transactions "
                   "ORDER BY event_date DESC, event_time DESC LIMIT %s")
"""The newest payments in PostgreSQL (newest day's partition first)."""
