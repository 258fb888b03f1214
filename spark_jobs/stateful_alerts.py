"""Stateful alerts: the per-user rules on keyed state in RocksDB, off the lake's critical path.

Kafka `transactions` -> the same contract check and typing as silver (Spark SQL)
-> transformWithState keyed by the Kafka partition (which holds each user's
payments in order) -> velocity, card_testing, impossible_travel -> Kafka `alerts`.

Keyed by partition rather than by user: a Python state call is a socket round
trip, and per-user keys cost several per user per batch (set key, read, write);
here a batch costs one call per partition and one read and one write per user
it touches. The partition key also holds the partition's newest event time, so
lateness is judged exactly as silver judges it: a payment more than the
allowed lateness older than the newest earlier payment of its partition is
too late (silver quarantines it; the rules never see it); an in-order replay of
history is never late. Per user the state keeps the payments the rules'
windows plus the lateness still need, the transaction ids seen within the
lateness (a resend or conflicting duplicate is not judged twice), and the
alerts raised for the payments kept (lakehouse.keyed_rules). micro-batches
with a 0-second trigger; the state store is RocksDB with changelog checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pyspark.sql.streaming import StatefulProcessor

from lakehouse.catalog import Catalog
from lakehouse.keyed_rules import (
    USER_RULES,
    Payment,
    UserState,
    forget_seen,
    horizon_ms,
    judge,
    settle,
)
from lakehouse.rules import Rule, load_rules
from lakehouse.settings import Settings
from spark_jobs import io

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

QUERY_NAME = "stateful"
ALERT_SCHEMA = (
    "alert_id string, rule_id string, severity string, transaction_id string, user_id string, "
    "merchant_id string, amount_eur decimal(18,2), event_time timestamp, event_date date, "
    "detected_at timestamp, details string"
)
ALERT_FIELDS = tuple(part.split()[0] for part in ALERT_SCHEMA.split(", "))
INPUT_COLUMNS = ("source_partition", "source_offset", "transaction_id", "user_id",
                 "amount_eur", "merchant_id", "channel", "lat", "lon", "city", "event_ms",
                 "payload_sha256")


def _alert_row(user_id: str, hit: Any, rules: dict[str, Rule], now: datetime) -> tuple[Any, ...]:
    import hashlib
    import json

    payment: Payment = hit.payment
    moment = datetime.fromtimestamp(payment.ms / 1000, tz=UTC)
    key = hashlib.sha256(f"{hit.rule_id}:{payment.transaction_id}".encode()).hexdigest()[:32]
    return (key, hit.rule_id, rules[hit.rule_id].severity, payment.transaction_id, user_id,
            payment.merchant_id, payment.amount_eur, moment, moment.date(), now,
            json.dumps(hit.details, separators=(",", ":")))


class UserRulesProcessor(StatefulProcessor):
    """The transformWithState processor: one call per Kafka partition per batch."""

    def __init__(self, rules: dict[str, Rule], lateness_ms: int) -> None:
        self.rules = {k: r for k, r in rules.items() if k in USER_RULES}
        self.lateness_ms = lateness_ms
        self.keep_ms = horizon_ms(self.rules) + lateness_ms

    def init(self, handle: Any) -> None:
        """Declare the state: the partition's newest event time, and one entry per user."""
        self.newest = handle.getValueState("newest", "ms long")
        self.users = handle.getMapState("users", "user_id string", "entry string")

    def handleInputRows(self, key: Any, rows: Iterator[Any], timerValues: Any) -> Iterator[Any]:
        """Judge one partition's records of this batch, in offset order."""
        from pyspark.sql import Row

        newest_row = self.newest.get() if self.newest.exists() else None
        newest = None if newest_row is None else int(newest_row[0])
        states: dict[str, UserState] = {}
        arrived: dict[str, list[Payment]] = {}
        for row in sorted(rows, key=lambda r: r["source_offset"]):
            ms = int(row["event_ms"])
            if newest is not None and ms < newest - self.lateness_ms:
                continue  # too late: silver quarantines it
            newest = ms if newest is None else max(newest, ms)
            user = row["user_id"]
            state = states.get(user)
            if state is None:
                stored = self.users.getValue((user,))
                state = states[user] = UserState.decode(stored[0] if stored else None)
            if settle(state, row["transaction_id"], row["payload_sha256"], ms,
                      self.lateness_ms) != "new":
                continue
            arrived.setdefault(user, []).append(Payment(
                ms, row["transaction_id"], row["amount_eur"], row["merchant_id"],
                row["channel"], float(row["lat"]), float(row["lon"]), row["city"]))
        if newest is not None:
            self.newest.update((newest,))
        now = datetime.now(UTC)
        for user, state in states.items():
            hits = judge(state, arrived.get(user, []), self.rules, self.keep_ms)
            forget_seen(state, self.lateness_ms)
            self.users.updateValue((user,), (state.encode(),))
            for hit in hits:
                yield Row(**dict(zip(ALERT_FIELDS, _alert_row(user, hit, self.rules, now),
                                     strict=True)))

    def close(self) -> None:
        """Nothing to release."""


def transform(kafka_rows: DataFrame, rules: dict[str, Rule], lateness_s: int) -> DataFrame:
    """Kafka `transactions` records -> alert rows of the per-user rules (ALERT_SCHEMA)."""
    from pyspark.sql import functions as F

    from spark_jobs import bronze_transactions_raw
    from spark_jobs.silver_transactions import check_contract, to_silver_rows

    checked = check_contract(bronze_transactions_raw.transform(kafka_rows))
    payments = to_silver_rows(checked.where(F.size("reasons") == 0), 0).select(
        *[c for c in INPUT_COLUMNS if c != "event_ms"],
        F.unix_millis("event_time").alias("event_ms"))
    processor = UserRulesProcessor(rules, lateness_s * 1000)
    return payments.groupBy("source_partition").transformWithState(
        statefulProcessor=processor, outputStructType=ALERT_SCHEMA, outputMode="Update",
        timeMode="None")


def start(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
    """Start Kafka `transactions` -> per-user rules -> Kafka `alerts`."""
    from spark_jobs.alert_sink import to_kafka_messages

    source = io.read_kafka_stream(spark, settings, "transactions",
                                  settings.pipeline.max_offsets_per_trigger)
    alerts = transform(source, load_rules(), settings.pipeline.allowed_lateness_s)
    writer = (to_kafka_messages(alerts).writeStream.queryName(QUERY_NAME)
              .format("kafka").outputMode("update")
              .option("kafka.bootstrap.servers", settings.kafka.bootstrap_servers)
              .option("kafka.linger.ms", "0")
              .option("kafka.acks", "all")
              .option("topic", "alerts")
              .option("checkpointLocation", Catalog(settings.lake).checkpoint(QUERY_NAME)))
    trigger = {"availableNow": True} if available_now else {"processingTime": "0 seconds"}
    return writer.trigger(**trigger).start()  # type: ignore[arg-type]
