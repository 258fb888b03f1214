"""The PostgreSQL store's reads and sinks, on a recording stand-in connection (no server): each
read is one bounded statement with a parameter per placeholder; each sink opens, writes,
commits and closes its own connection; the dashboard turns rows into frames."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from lakehouse.stores import postgres
from lakehouse.stores.postgres import AlertFilter, Rows


class RecordingCursor:
    """A cursor that records what it runs and answers with two columns and one row."""

    def __init__(self, conn: RecordingConnection) -> None:
        self.conn = conn
        self.description = [("first",), ("second",)]

    def __enter__(self) -> RecordingCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str, params: Any = None) -> None:
        self.conn.executed.append((sql, params))

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [(1, "a")]


class RecordingConnection:
    """A psycopg2-like connection that records statements, commits, sessions and closing."""

    def __init__(self) -> None:
        self.executed: list[tuple[str, Any]] = []
        self.session: dict[str, Any] = {}
        self.committed = self.rolled_back = self.closed = False

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self)

    def set_session(self, **options: Any) -> None:
        self.session.update(options)

    def __enter__(self) -> RecordingConnection:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.committed = True
        else:
            self.rolled_back = True

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[RecordingConnection]:
    """The connections the store opens (postgres.connect replaced), with the DSNs asked for."""
    connections: list[RecordingConnection] = []

    def connect(dsn: str, timeout_s: int = 3) -> RecordingConnection:
        conn = RecordingConnection()
        conn.session["dsn"] = dsn
        connections.append(conn)
        return conn

    monkeypatch.setattr(postgres, "connect", connect)
    return connections


SINCE = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
READS: dict[str, tuple[Callable[..., Rows], tuple[Any, ...]]] = {
    "newest_alerts": (postgres.newest_alerts, (AlertFilter(), 200)),
    "newest_alerts filtered": (postgres.newest_alerts, (AlertFilter(
        rules=("velocity",), severities=("high",), user_id="u-1", merchant_id="m-1",
        since=SINCE, until=SINCE), 20)),
    "alerts_per_bucket": (postgres.alerts_per_bucket, ("minute", 24)),
    "metrics_per_layer": (postgres.metrics_per_layer, (15,)),
    "last_batch_per_layer": (postgres.last_batch_per_layer, ()),
    "latest_dq_result_per_suite": (postgres.latest_dq_result_per_suite, ()),
    "recent_dq_results": (postgres.recent_dq_results, ()),
    "review_queue": (postgres.review_queue, (100,)),
    "dispositions_per_day_and_rule": (postgres.dispositions_per_day_and_rule, (30,)),
    "payment_by_id": (postgres.payment_by_id, ("tx-1",)),
    "decision_of_payment": (postgres.decision_of_payment, ("tx-1",)),
    "alerts_of_payment": (postgres.alerts_of_payment, ("tx-1", 50)),
    "payments_of_user": (postgres.payments_of_user, ("u-1", 50)),
    "payments_of_merchant": (postgres.payments_of_merchant, ("m-1", 50)),
    "newest_payments": (postgres.newest_payments, (50,)),
}


@pytest.mark.parametrize("name", list(READS))
def test_each_read_is_one_bounded_statement_with_a_parameter_per_placeholder(name: str) -> None:
    query, args = READS[name]
    conn = RecordingConnection()
    rows = query(conn, *args)
    assert rows == Rows(("first", "second"), [(1, "a")])
    [(sql, params)] = conn.executed
    assert sql.lstrip().startswith("SELECT") and "FROM payments." in sql
    assert sql.count("%s") == len(params), (sql, params)
    # bounded: a LIMIT, a time window, one row per layer or suite, or one payment's decision
    assert any(bound in sql for bound in ("LIMIT", "make_interval", "DISTINCT ON",
                                          "WHERE transaction_id = %s")), sql
    assert not conn.committed and not conn.closed  # a read leaves its connection to the caller


def test_the_alert_filter_becomes_where_clauses_in_order_with_the_limit_last() -> None:
    sql, params = postgres.alerts_query(AlertFilter(), 7)
    assert "WHERE" not in sql and sql.endswith("ORDER BY detected_at DESC, alert_id LIMIT %s")
    assert params == [7]
    sql, params = postgres.alerts_query(AlertFilter(
        rules=("velocity", "high_amount"), user_id=" u-1 ", since=SINCE), 20)
    assert " WHERE rule_id = ANY(%s) AND user_id = %s AND detected_at >= %s ORDER BY" in sql
    assert params == [["velocity", "high_amount"], "u-1", SINCE, 20]


def test_read_only_sets_a_read_only_autocommit_session_and_closes(
        opened: list[RecordingConnection]) -> None:
    with postgres.read_only("dbname=payments") as conn:
        postgres.review_queue(conn, 5)
    [used] = opened
    assert used.session == {"dsn": "dbname=payments", "readonly": True, "autocommit": True}
    assert used.closed
    with pytest.raises(RuntimeError), postgres.read_only("dbname=payments"):
        raise RuntimeError("page failed")
    assert opened[-1].closed


def test_a_disposition_is_written_committed_and_closed_on_its_own_connection(
        opened: list[RecordingConnection]) -> None:
    postgres.record_disposition("user=analyst", "tx-1", "confirmed_fraud", "  ", note="")
    [conn] = opened
    assert conn.session["dsn"] == "user=analyst"
    assert conn.executed == [(postgres.DISPOSITION_UPSERT,
                              ("tx-1", None, "confirmed_fraud", "analyst", None))]
    assert conn.committed and conn.closed


def test_an_unknown_disposition_is_refused_before_connecting(
        opened: list[RecordingConnection]) -> None:
    with pytest.raises(ValueError, match="confirmed_fraud, false_positive"):
        postgres.record_disposition("user=analyst", "tx-1", "maybe", "ana")
    assert opened == []
    assert postgres.disposition_row("tx-1", "false_positive", " ana ", "looks fine", "a-1") == (
        "tx-1", "a-1", "false_positive", "ana", "looks fine")


def test_dq_results_are_inserted_in_one_transaction_and_closed(
        opened: list[RecordingConnection]) -> None:
    rows = [("dq-1", "gold_alerts", True, 5, 0, None, "{}"),
            ("dq-1", "silver_transactions", False, 7, 1, "file:///docs", '{"table": "s"}')]
    postgres.record_dq_results("user=owner", rows)
    [conn] = opened
    assert conn.executed == [(postgres.DQ_RESULT_INSERT, row) for row in rows]
    assert postgres.DQ_RESULT_INSERT.count("%s") == len(postgres.DQ_RESULT_COLUMNS)
    assert conn.committed and conn.closed


def test_the_dashboard_frames_a_store_query_with_its_column_names(
        opened: list[RecordingConnection]) -> None:
    from dashboard import data

    empty = data.frame_of(Rows(("a", "b"), []))
    assert empty.empty and list(empty.columns) == ["a", "b"]
    frame = data.pg_frame("user=reader", postgres.newest_payments, 50)
    assert frame.to_dict("records") == [{"first": 1, "second": "a"}]
    [conn] = opened
    assert conn.session["readonly"] and conn.closed
    assert conn.executed == [(postgres.NEWEST_PAYMENTS, [50])]
