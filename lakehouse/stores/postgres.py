"""PostgreSQL: connections (one place opens them, with a one-line error naming the server), the
pure pieces of payments.transactions (its day partitions, retention and COPY rows), and every
statement the jobs, sinks, dashboard, data-quality runner and benchmarks run, one named
function each.

Every read is bounded (a time window, a LIMIT or one row per layer or suite) and served by an
index of `payments`, so pages stay fast with millions of alerts. Reads take an open connection
(`read_only` gives one); each sink opens, writes and closes its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lakehouse.errors import PaystreamError
from lakehouse.settings import Settings

if TYPE_CHECKING:
    from psycopg2.extensions import connection

log = logging.getLogger("paystream.postgres")


def connect(dsn: str, timeout_s: int = 3) -> connection:
    """A psycopg2 connection, or a one-line PaystreamError naming the server."""
    import psycopg2
    from psycopg2.extensions import parse_dsn

    try:
        return psycopg2.connect(dsn, connect_timeout=timeout_s)
    except psycopg2.Error as error:
        params = parse_dsn(dsn) if "=" in dsn or "://" in dsn else {}
        host, port = params.get("host", "localhost"), params.get("port", 5432)
        where = f"{host}:{port}/{params.get('dbname', '')}"
        reason = " ".join(str(error).split()) or type(error).__name__
        raise PaystreamError(f"cannot reach PostgreSQL at {where}: {reason}") from error


def reachable(dsn: str) -> bool:
    """True when a connection to the DSN succeeds."""
    try:
        connect(dsn, timeout_s=2).close()
        return True
    except PaystreamError:
        return False


@contextmanager
def read_only(dsn: str) -> Iterator[connection]:
    """A read-only autocommit connection to the DSN, closed when the block ends."""
    conn = connect(dsn)
    try:
        conn.set_session(readonly=True, autocommit=True)
        yield conn
    finally:
        conn.close()


TRANSACTION_COLUMNS = ("transaction_id", "event_date", "event_time", "user_id", "card_id",
                       "amount", "currency", "amount_eur", "merchant_id", "merchant_category",
                       "country", "city", "lat", "lon", "channel", "kafka_timestamp")
"""The columns of payments.transactions the lake writes, in silver's names and COPY order."""
TRANSACTIONS_PARTITION_PREFIX = "transactions_"
"""A day's partition of payments.transactions is `payments.transactions_YYYYMMDD`."""


def transactions_partition_ddl(day: date) -> str:
    """The statement that creates one day's partition of payments.transactions (pure)."""
    return (f"CREATE TABLE IF NOT EXISTS payments.{TRANSACTIONS_PARTITION_PREFIX}{day:%Y%m%d} "
            f"PARTITION OF payments.transactions "
            f"FOR VALUES FROM ('{day.isoformat()}') TO ('{(day + timedelta(days=1)).isoformat()}')")


def partition_day(table_name: str) -> date | None:
    """The day of a partition named `transactions_YYYYMMDD`, None for any other name (pure)."""
    digits = table_name.removeprefix(TRANSACTIONS_PARTITION_PREFIX)
    if digits == table_name or len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def retention_cutoff(today: date, retention_days: int) -> date:
    """The first day payments.transactions keeps: today and the retention_days - 1 before."""
    return today - timedelta(days=retention_days - 1)


def copy_text_row(values: Sequence[Any]) -> str:
    """One line of COPY's text format: tab-separated, \\N for NULL, backslash escapes (pure)."""
    def field(value: Any) -> str:
        if value is None:
            return "\\N"
        text = value.isoformat() if isinstance(value, (date, datetime)) else str(value)
        return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r").replace("\x00", "\ufffd"))

    return "\t".join(field(value) for value in values) + "\n"


@dataclass(frozen=True)
class Rows:
    """What a query returned: its column names and its rows, in order."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def _fetch(conn: connection, sql: str, params: Sequence[Any] = ()) -> Rows:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return Rows(tuple(d[0] for d in cur.description or []), list(cur.fetchall()))


# --- payments.alerts -------------------------------------------------------------------------

ALERT_COLUMNS = ("detected_at", "rule_id", "severity", "user_id", "merchant_id", "amount_eur",
                 "event_time", "transaction_id", "alert_id", "rules_version")
"""What a list of alerts shows of each alert (payments.alerts)."""


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts to list; an empty field filters nothing."""

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


def newest_alerts(conn: connection, f: AlertFilter, limit: int) -> Rows:
    """The newest `limit` alerts matching the filter, newest first, with their details."""
    return _fetch(conn, *alerts_query(f, limit))


ALERTS_PER_BUCKET = """
SELECT date_trunc(%s, detected_at) AS bucket, rule_id, count(*) AS alerts
FROM payments.alerts WHERE detected_at >= now() - make_interval(hours => %s)
GROUP BY 1, 2 ORDER BY 1
"""


def alerts_per_bucket(conn: connection, bucket: str, hours: int) -> Rows:
    """Alerts per time bucket (minute or hour) and rule over the last `hours`, oldest first."""
    return _fetch(conn, ALERTS_PER_BUCKET, [bucket, hours])


# --- payments.pipeline_metrics and payments.dq_results --------------------------------------

METRICS_PER_LAYER = """
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


def metrics_per_layer(conn: connection, minutes: int) -> Rows:
    """Per layer over the last `minutes`: rows in, events/s, alert latency p50/p99, top lag."""
    return _fetch(conn, METRICS_PER_LAYER, [minutes])


LAST_BATCH_PER_LAYER = """
SELECT DISTINCT ON (layer) layer, batch_id, rows_in, rows_out, duration_ms, recorded_at
FROM payments.pipeline_metrics ORDER BY layer, recorded_at DESC
"""


def last_batch_per_layer(conn: connection) -> Rows:
    """The newest recorded batch of each layer (rows in and out, duration, when)."""
    return _fetch(conn, LAST_BATCH_PER_LAYER)


LATEST_DQ_RESULT_PER_SUITE = """
SELECT DISTINCT ON (suite) suite, success, expectations_evaluated, expectations_failed,
       run_at, docs_url, details
FROM payments.dq_results ORDER BY suite, run_at DESC
"""


ACTIVE_RULES_VERSION = """
SELECT rules_version, source, live_from, first_live FROM payments.rules_versions
ORDER BY live_from DESC LIMIT 1
"""


def active_rules_version(conn: connection) -> Rows:
    """The rules version the stream went live with last (no row before its first start)."""
    return _fetch(conn, ACTIVE_RULES_VERSION)


RULES_VERSION_UPSERT = (
    "INSERT INTO payments.rules_versions (rules_version, rules_text, source) VALUES (%s, %s, %s) "
    "ON CONFLICT (rules_version) DO UPDATE SET live_from = now(), source = EXCLUDED.source"
)


def record_rules_version(settings: Settings, version: str, text: str, source: str) -> None:
    """Record that a rules version went live now (its text kept the first time); waits for
    PostgreSQL as the sinks do."""
    with_postgres(settings, lambda cur: cur.execute(RULES_VERSION_UPSERT,
                                                    (version, text, source)),
                  settings.pipeline.postgres_retry_s)


def latest_dq_result_per_suite(conn: connection) -> Rows:
    """The newest data-quality result of each suite, with its Data Docs URL and details."""
    return _fetch(conn, LATEST_DQ_RESULT_PER_SUITE)


RECENT_DQ_RESULTS = """
SELECT run_at, suite, success, expectations_evaluated, expectations_failed
FROM payments.dq_results ORDER BY run_at DESC LIMIT 500
"""


def recent_dq_results(conn: connection) -> Rows:
    """The newest 500 data-quality results of all suites, newest first."""
    return _fetch(conn, RECENT_DQ_RESULTS)


DQ_RESULT_COLUMNS = ("run_id", "suite", "success", "expectations_evaluated",
                     "expectations_failed", "docs_url", "details")
"""The columns of payments.dq_results a data-quality run writes, in row order."""
DQ_RESULT_INSERT = (f"INSERT INTO payments.dq_results ({', '.join(DQ_RESULT_COLUMNS)}) "
                    f"VALUES ({', '.join(['%s'] * len(DQ_RESULT_COLUMNS))})")


def record_dq_results(dsn: str, rows: Iterable[Sequence[Any]]) -> None:
    """Insert a run's rows (DQ_RESULT_COLUMNS order) into payments.dq_results in one
    transaction, on a connection of its own."""
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            for row in rows:
                cur.execute(DQ_RESULT_INSERT, tuple(row))
    finally:
        conn.close()


# --- payments.decisions and payments.alert_dispositions -------------------------------------

REVIEW_QUEUE = """
SELECT d.transaction_id, d.risk_score, d.decision, d.amount_eur, d.user_id, d.merchant_id,
       d.event_time, d.decided_at, d.fired, d.contributions, d.features, d.model_version,
       d.model_score, d.model_reasons
FROM payments.decisions d
LEFT JOIN payments.alert_dispositions a ON a.transaction_id = d.transaction_id
WHERE a.transaction_id IS NULL
ORDER BY d.risk_score DESC, d.decided_at DESC, d.transaction_id
LIMIT %s
"""


def review_queue(conn: connection, limit: int) -> Rows:
    """The payments sent to review or block that no analyst has judged, highest score first."""
    return _fetch(conn, REVIEW_QUEUE, [limit])


DISPOSITIONS_PER_DAY_AND_RULE = """
SELECT date_trunc('day', d.decided_at) AS day, a.rule_id,
       count(*) FILTER (WHERE d.disposition = 'confirmed_fraud') AS confirmed,
       count(*) FILTER (WHERE d.disposition = 'false_positive') AS cleared
FROM payments.alert_dispositions d
JOIN payments.alerts a ON a.transaction_id = d.transaction_id
WHERE d.decided_at >= now() - make_interval(days => %s)
GROUP BY 1, 2 ORDER BY 1, 2
"""


def dispositions_per_day_and_rule(conn: connection, days: int) -> Rows:
    """Per day and rule over the last `days`: the payments its alerts flagged that analysts
    confirmed as fraud and those they cleared."""
    return _fetch(conn, DISPOSITIONS_PER_DAY_AND_RULE, [days])


DISPOSITIONS = ("confirmed_fraud", "false_positive")
"""An analyst's possible words on a payment (payments.alert_dispositions.disposition)."""
DISPOSITION_UPSERT = """
INSERT INTO payments.alert_dispositions (transaction_id, alert_id, disposition, analyst, note,
                                         decided_at)
VALUES (%s, %s, %s, %s, %s, now())
ON CONFLICT (transaction_id) DO UPDATE
SET alert_id = EXCLUDED.alert_id, disposition = EXCLUDED.disposition,
    analyst = EXCLUDED.analyst, note = EXCLUDED.note, decided_at = EXCLUDED.decided_at
"""


def disposition_row(transaction_id: str, disposition: str, analyst: str, note: str = "",
                    alert_id: str | None = None) -> tuple[Any, ...]:
    """DISPOSITION_UPSERT's parameters; a ValueError for an unknown disposition (pure)."""
    if disposition not in DISPOSITIONS:
        raise ValueError(f"disposition must be one of {', '.join(DISPOSITIONS)}")
    return (transaction_id, alert_id, disposition, analyst.strip() or "analyst", note or None)


def record_disposition(analyst_dsn: str, transaction_id: str, disposition: str, analyst: str,
                       note: str = "", alert_id: str | None = None) -> None:
    """An analyst's word on a payment, through the analyst role (the newest word wins)."""
    row = disposition_row(transaction_id, disposition, analyst, note, alert_id)
    conn = connect(analyst_dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(DISPOSITION_UPSERT, row)
    finally:
        conn.close()


# --- payments.transactions: the payment search ----------------------------------------------

PAYMENT_COLUMNS = ("event_time", "transaction_id", "user_id", "card_id", "amount", "currency",
                   "amount_eur", "merchant_id", "merchant_category", "country", "city",
                   "channel")
"""What the payment search shows of a payment (payments.transactions)."""
_PAYMENTS = f"SELECT {', '.join(PAYMENT_COLUMNS)} FROM payments.transactions"
PAYMENT_BY_ID = f"{_PAYMENTS} WHERE transaction_id = %s ORDER BY event_time DESC LIMIT 1"
PAYMENTS_OF_USER = f"{_PAYMENTS} WHERE user_id = %s ORDER BY event_time DESC LIMIT %s"
PAYMENTS_OF_MERCHANT = f"{_PAYMENTS} WHERE merchant_id = %s ORDER BY event_time DESC LIMIT %s"
NEWEST_PAYMENTS = f"{_PAYMENTS} ORDER BY event_date DESC, event_time DESC LIMIT %s"
DECISION_OF_PAYMENT = ("SELECT decision, risk_score, contributions, fired, decided_at "
                       "FROM payments.decisions WHERE transaction_id = %s")
ALERTS_OF_PAYMENT = (f"SELECT {', '.join(ALERT_COLUMNS)} FROM payments.alerts "
                     "WHERE transaction_id = %s ORDER BY detected_at DESC LIMIT %s")


def payment_by_id(conn: connection, transaction_id: str) -> Rows:
    """The payment with that transaction id (one row, or none)."""
    return _fetch(conn, PAYMENT_BY_ID, [transaction_id])


def decision_of_payment(conn: connection, transaction_id: str) -> Rows:
    """The risk decision on that payment and its explanation (one row, or none: approved)."""
    return _fetch(conn, DECISION_OF_PAYMENT, [transaction_id])


def alerts_of_payment(conn: connection, transaction_id: str, limit: int) -> Rows:
    """The alerts on that payment, newest first."""
    return _fetch(conn, ALERTS_OF_PAYMENT, [transaction_id, limit])


def payments_of_user(conn: connection, user_id: str, limit: int) -> Rows:
    """The user's newest `limit` payments, newest first."""
    return _fetch(conn, PAYMENTS_OF_USER, [user_id, limit])


def payments_of_merchant(conn: connection, merchant_id: str, limit: int) -> Rows:
    """The merchant's newest `limit` payments, newest first."""
    return _fetch(conn, PAYMENTS_OF_MERCHANT, [merchant_id, limit])


def newest_payments(conn: connection, limit: int) -> Rows:
    """The newest `limit` payments in PostgreSQL (newest day's partition first)."""
    return _fetch(conn, NEWEST_PAYMENTS, [limit])


# --- payments.alerts: the synthetic alerts of `paystream bench dashboard` ------------------
# Written with the owner role's DSN; each function opens, commits and closes its connection.

SYNTHETIC_ALERT_PREFIX = "bench-"
"""The alert_id prefix of the benchmark's synthetic alerts (their transactions: `tx-bench-`)."""
FILL_SYNTHETIC_ALERTS = """
INSERT INTO payments.alerts (alert_id, rule_id, severity, transaction_id, user_id, merchant_id,
                             amount_eur, event_time, detected_at, details)
SELECT %(prefix)s || g,
       (ARRAY['high_amount','velocity','card_testing','impossible_travel',
              'compromised_merchant'])[1 + g %% 5],
       (ARRAY['high','medium','high','critical','high'])[1 + g %% 5],
       'tx-' || %(prefix)s || g, 'u-' || lpad((g %% 100000)::text, 7, '0'),
       'm-' || lpad((g %% 5000)::text, 6, '0'), (g %% 100000) / 10.0,
       now() - make_interval(secs => g * 0.6), now() - make_interval(secs => g * 0.6),
       '{}'::jsonb
FROM generate_series(1, %(count)s) AS g
ON CONFLICT (alert_id) DO NOTHING
"""
DELETE_SYNTHETIC_ALERTS = "DELETE FROM payments.alerts WHERE starts_with(alert_id, %s)"


def fill_synthetic_alerts(dsn: str, count: int) -> int:
    """Add `count` synthetic alerts to payments.alerts and ANALYZE it; returns the new rows."""
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(FILL_SYNTHETIC_ALERTS, {"prefix": SYNTHETIC_ALERT_PREFIX, "count": count})
            inserted = int(cur.rowcount)
            cur.execute("ANALYZE payments.alerts")
        return inserted
    finally:
        conn.close()


def delete_synthetic_alerts(dsn: str) -> int:
    """Delete the synthetic alerts from payments.alerts; returns how many there were."""
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(DELETE_SYNTHETIC_ALERTS, [SYNTHETIC_ALERT_PREFIX])
            return int(cur.rowcount)
    finally:
        conn.close()


# ---- the jobs' and sinks' writes: each opens its own connection and, while PostgreSQL is
# away, waits with backoff (with_postgres) rather than die or skip -----------------------

METRICS_RETRY_S = 4.0
"""How long a batch's metrics wait for PostgreSQL before they are dropped (not the batch)."""


def owner_connection(settings: Settings) -> connection:
    """A connection to the payments database as the owner role (jobs and sinks)."""
    return connect(settings.postgres_url())


ALERT_INSERT = (
    "INSERT INTO payments.alerts (alert_id, rule_id, severity, transaction_id, user_id, "
    "merchant_id, amount_eur, event_time, detected_at, details, rules_version) VALUES %s "
    "ON CONFLICT (alert_id) DO NOTHING"
)


def backoff_delays(budget_s: float, first_s: float = 0.5, cap_s: float = 10.0) -> list[float]:
    """The waits between attempts: doubling from `first_s`, at most `cap_s`, summing to no
    more than `budget_s` (pure)."""
    delays: list[float] = []
    delay = first_s
    while sum(delays) + delay <= budget_s:
        delays.append(delay)
        delay = min(delay * 2, cap_s)
    return delays


def with_postgres(settings: Settings, work: Callable[[Any], None], budget_s: float) -> None:
    """Run `work(cursor)` in one transaction; while PostgreSQL is away (restart, failover) try
    again with backoff for up to `budget_s` seconds, then raise."""
    import time

    import psycopg2

    for delay in [*backoff_delays(budget_s), None]:
        try:
            conn = owner_connection(settings)
            try:
                with conn, conn.cursor() as cur:
                    work(cur)
                return
            finally:
                conn.close()
        except (psycopg2.OperationalError, PaystreamError) as error:
            if delay is None:
                raise
            log.warning("PostgreSQL unavailable (%s); retrying in %.1f s",
                        " ".join(str(error).split())[:200], delay)
            time.sleep(delay)


def postgres_row(row: Sequence[Any], json_columns: Sequence[int] = ()) -> tuple[Any, ...]:
    """A row PostgreSQL can hold: text cannot contain NUL, nor jsonb the escape \\u0000, so
    each becomes U+FFFD (a valid payment may carry NUL in an id; the lake keeps it as sent)."""
    def safe(index: int, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = value.replace("\x00", "\ufffd")
        return value.replace("\\u0000", "\\ufffd") if index in json_columns else value

    return tuple(safe(index, value) for index, value in enumerate(row))


def upsert_alerts(settings: Settings, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert alerts into payments.alerts; an alert id seen before is left as it is.

    While PostgreSQL is away the batch waits (pipeline.postgres_retry_s) rather than die or
    skip: the query commits its offsets only after the alerts are in.
    """
    if not rows:
        return
    from psycopg2.extras import execute_values

    safe = [postgres_row(row, json_columns=(9,)) for row in rows]
    with_postgres(settings, lambda cur: execute_values(cur, ALERT_INSERT, safe, page_size=1000),
                  settings.pipeline.postgres_retry_s)


DECISION_INSERT = (
    "INSERT INTO payments.decisions (transaction_id, user_id, merchant_id, amount_eur, "
    "event_time, decided_at, risk_score, decision, contributions, fired, features, "
    "rules_version, model_version, model_score, model_reasons) VALUES %s "
    "ON CONFLICT (transaction_id) DO NOTHING"
)


def upsert_decisions(settings: Settings, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert flagged decisions into payments.decisions; a transaction held is left as it is
    (waiting for PostgreSQL as upsert_alerts does)."""
    if not rows:
        return
    from psycopg2.extras import execute_values

    safe = [postgres_row(row, json_columns=(8, 9, 10, 14)) for row in rows]
    with_postgres(settings,
                  lambda cur: execute_values(cur, DECISION_INSERT, safe, page_size=1000),
                  settings.pipeline.postgres_retry_s)


def insert_transactions(settings: Settings, rows: Sequence[Sequence[Any]], today: date) -> int:
    """Copy new silver payments (TRANSACTION_COLUMNS) into payments.transactions, creating
    each day's partition first; a payment held is left as it is, days older than the
    retention are skipped. Waits for PostgreSQL as upsert_alerts does; returns rows offered."""
    from io import StringIO


    retention = settings.postgres.transactions_retention_days
    if not retention or not rows:
        return 0
    cutoff = retention_cutoff(today, retention)
    kept = [row for row in rows if row[1] >= cutoff]
    if not kept:
        return 0
    text = "".join(copy_text_row(row) for row in kept)
    columns = ", ".join(TRANSACTION_COLUMNS)

    def write(cur: Any) -> None:
        cur.execute("SET LOCAL TIME ZONE 'UTC'")  # Spark's timestamps are UTC, without a zone
        for day in sorted({row[1] for row in kept}):
            cur.execute(transactions_partition_ddl(day))
        cur.execute("CREATE TEMP TABLE incoming_transactions "
                    "(LIKE payments.transactions INCLUDING DEFAULTS) ON COMMIT DROP")
        cur.copy_expert(f"COPY incoming_transactions ({columns}) FROM STDIN", StringIO(text))
        cur.execute(f"INSERT INTO payments.transactions ({columns}) SELECT {columns} "
                    "FROM incoming_transactions ON CONFLICT DO NOTHING")

    with_postgres(settings, write, settings.pipeline.postgres_retry_s)
    return len(kept)


def drop_expired_transactions(settings: Settings, today: date) -> list[str]:
    """Drop the day partitions of payments.transactions older than the retention (whole
    tables, never row by row); return the names dropped."""

    retention = settings.postgres.transactions_retention_days
    dropped: list[str] = []
    if not retention:
        return dropped
    cutoff = retention_cutoff(today, retention)

    def drop(cur: Any) -> None:
        cur.execute("SELECT c.relname FROM pg_inherits i "
                    "JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_class p ON p.oid = i.inhparent "
                    "JOIN pg_namespace n ON n.oid = p.relnamespace "
                    "WHERE n.nspname = 'payments' AND p.relname = 'transactions'")
        for (name,) in cur.fetchall():
            day = partition_day(name)
            if day is not None and day < cutoff:
                cur.execute(f'DROP TABLE payments."{name}"')
                dropped.append(name)

    with_postgres(settings, drop, settings.pipeline.postgres_retry_s)
    return sorted(dropped)


def pending_dispositions(settings: Settings) -> list[tuple[str, str, Any]]:
    """(transaction_id, disposition, decided_at) of the analysts' words not yet in gold.labels."""
    found: list[tuple[str, str, Any]] = []

    def read(cur: Any) -> None:
        cur.execute("SELECT transaction_id, disposition, decided_at "
                    "FROM payments.alert_dispositions "
                    "WHERE synced_at IS NULL OR decided_at > synced_at ORDER BY decided_at")
        found.extend(cur.fetchall())

    with_postgres(settings, read, settings.pipeline.postgres_retry_s)
    return found


def mark_dispositions_synced(settings: Settings, synced: Sequence[tuple[str, Any]]) -> None:
    """Record (transaction_id, decided_at) pairs as synced; a word changed since stays pending."""
    if not synced:
        return
    from psycopg2.extras import execute_values

    with_postgres(settings, lambda cur: execute_values(
        cur, "UPDATE payments.alert_dispositions d SET synced_at = v.decided_at "
             "FROM (VALUES %s) AS v (transaction_id, decided_at) "
             "WHERE d.transaction_id = v.transaction_id AND d.decided_at = v.decided_at",
        list(synced), template="(%s, %s::timestamptz)"), settings.pipeline.postgres_retry_s)


def insert_metrics(settings: Settings, rows: Sequence[dict[str, Any]]) -> None:
    """Append per-batch metrics to payments.pipeline_metrics, best effort: with PostgreSQL
    away for more than a few seconds the batch's metrics are dropped (logged), never the
    batch."""
    if not rows:
        return
    import json

    import psycopg2
    from psycopg2.extras import execute_values

    def insert(cur: Any) -> None:
        execute_values(
            cur,
            "INSERT INTO payments.pipeline_metrics (layer, batch_id, rows_in, rows_out, "
            "duration_ms, lag_records, alert_latency_p50_ms, alert_latency_p99_ms, details) "
            "VALUES %s",
            [(r["layer"], r["batch_id"], r.get("rows_in", 0), r.get("rows_out", 0),
              r.get("duration_ms"), r.get("lag_records"), r.get("alert_latency_p50_ms"),
              r.get("alert_latency_p99_ms"), json.dumps(r.get("details", {})))
             for r in rows],
        )

    try:
        with_postgres(settings, insert, METRICS_RETRY_S)
    except (psycopg2.OperationalError, PaystreamError) as error:
        log.warning("dropped the metrics of %s batch %s: %s", rows[0]["layer"],
                    rows[0]["batch_id"], " ".join(str(error).split())[:200])


def upsert_daily_report(settings: Settings, day: Any, report: dict[str, Any]) -> None:
    """Mirror one day's report to payments.daily_reports (replacing an earlier run's)."""
    import json

    conn = owner_connection(settings)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO payments.daily_reports (report_date, report, generated_at) "
                "VALUES (%s, %s, now()) ON CONFLICT (report_date) DO UPDATE "
                "SET report = EXCLUDED.report, generated_at = EXCLUDED.generated_at",
                (day, json.dumps(report)))
    finally:
        conn.close()
