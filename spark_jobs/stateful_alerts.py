"""Stateful alerts: the rules that need history, on keyed state in RocksDB, off the lake's path.

Two micro-batch queries (0-second trigger), each reading Kafka `transactions`
with the same contract check and typing as silver (Spark SQL, in the JVM):

- `stateful`: transformWithState keyed by the Kafka partition (which holds each
  user's payments in order) -> velocity, card_testing, impossible_travel.
- `merchants`: transformWithState on one key (a merchant's payments span every
  partition) -> compromised_merchant; only elevated tickets touch its state.

Both write alert records to Kafka `alerts`; the alert sinks carry them on.
Keyed by partition rather than by user: a Python state call is a socket round
trip, and per-user keys cost several per user per batch (set key, read, write);
here a batch costs one call per key and one read and one write per user (or
merchant) it touches. Each key holds its partitions' newest event times, so
lateness is judged exactly as silver judges it: a payment more than the allowed
lateness older than the newest earlier payment of its Kafka partition is too
late (silver quarantines it, no rule sees it), and an in-order replay of history
is never late. Per user (merchant) the state keeps the payments the rules'
windows plus the lateness still need, the transaction ids seen within the
lateness (a resend or conflicting duplicate is not judged twice) and the alerts
raised for the payments kept (lakehouse.keyed_rules, held equal to the batch
rules by tests). RocksDB with changelog checkpoints (lakehouse.spark).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pyspark.sql.streaming import StatefulProcessor

from lakehouse.keyed_rules import (
    MERCHANT_RULE_FUNCTIONS,
    Payment,
    UserState,
    elevated_ticket_eur,
    forget_seen,
    horizon_ms,
    judge,
    settle,
)
from lakehouse.rules import USER_RULES, Rule, load_rules
from lakehouse.settings import Settings
from spark_jobs import io

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

QUERY_NAME = "stateful"
MERCHANT_QUERY_NAME = "merchants"
ALERT_SCHEMA = (
    "alert_id string, rule_id string, severity string, transaction_id string, user_id string, "
    "merchant_id string, amount_eur decimal(18,2), event_time timestamp, event_date date, "
    "detected_at timestamp, details string, payment_kafka_time timestamp"
)
ALERT_FIELDS = tuple(part.split()[0] for part in ALERT_SCHEMA.split(", "))
INPUT_COLUMNS = ("source_partition", "source_offset", "transaction_id", "user_id",
                 "amount_eur", "merchant_id", "channel", "lat", "lon", "city", "event_ms",
                 "kafka_ms", "payload_sha256")


def _alert_row(user_id: str, hit: Any, rules: dict[str, Rule], now: datetime) -> tuple[Any, ...]:
    import hashlib
    import json

    payment: Payment = hit.payment
    moment = datetime.fromtimestamp(payment.ms / 1000, tz=UTC)
    key = hashlib.sha256(f"{hit.rule_id}:{payment.transaction_id}".encode()).hexdigest()[:32]
    return (key, hit.rule_id, rules[hit.rule_id].severity, payment.transaction_id, user_id,
            payment.merchant_id, payment.amount_eur, moment, moment.date(), now,
            json.dumps(hit.details, separators=(",", ":")),
            datetime.fromtimestamp(payment.kafka_ms / 1000, tz=UTC))


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
                row["channel"], float(row["lat"]), float(row["lon"]), row["city"],
                kafka_ms=int(row["kafka_ms"])))
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


class MerchantRulesProcessor(StatefulProcessor):
    """The merchant-rule processor: one key, so every partition's newest time is at hand.

    Every valid record passes (lateness is judged per partition, as silver judges it); only
    elevated tickets (the few compromised_merchant counts) read and write merchant state.
    """

    def __init__(self, rules: dict[str, Rule], lateness_ms: int) -> None:
        self.rules = {k: r for k, r in rules.items() if k in MERCHANT_RULE_FUNCTIONS}
        self.lateness_ms = lateness_ms
        self.keep_ms = horizon_ms(self.rules) + lateness_ms

    def init(self, handle: Any) -> None:
        """Declare the state: newest event time per partition, and one entry per merchant."""
        self.newest = handle.getValueState("newest", "by_partition string")
        self.merchants = handle.getMapState("merchants", "merchant_id string", "entry string")

    def handleInputRows(self, key: Any, rows: Iterator[Any], timerValues: Any) -> Iterator[Any]:
        """Judge the batch's records in Kafka order; only elevated tickets touch merchant state."""
        import json

        from pyspark.sql import Row

        stored = self.newest.get() if self.newest.exists() else None
        newest = {int(k): int(v) for k, v in json.loads(stored[0]).items()} if stored else {}
        states: dict[str, UserState] = {}
        arrived: dict[str, list[Payment]] = {}
        for row in sorted(rows, key=lambda r: (r["source_partition"], r["source_offset"])):
            ms, partition = int(row["event_ms"]), int(row["source_partition"])
            before = newest.get(partition)
            if before is not None and ms < before - self.lateness_ms:
                continue
            newest[partition] = ms if before is None else max(before, ms)
            if not row["elevated"]:
                continue
            merchant = row["merchant_id"]
            state = states.get(merchant)
            if state is None:
                entry = self.merchants.getValue((merchant,))
                state = states[merchant] = UserState.decode(entry[0] if entry else None)
            if settle(state, row["transaction_id"], row["payload_sha256"], ms,
                      self.lateness_ms) == "new":
                arrived.setdefault(merchant, []).append(Payment(
                    ms, row["transaction_id"], row["amount_eur"], merchant, "", 0.0, 0.0, "",
                    row["card_id"], row["user_id"], int(row["kafka_ms"])))
        self.newest.update((json.dumps(newest),))
        now = datetime.now(UTC)
        for merchant, state in states.items():
            hits = judge(state, arrived.get(merchant, []), self.rules, self.keep_ms,
                         MERCHANT_RULE_FUNCTIONS)
            forget_seen(state, self.lateness_ms)
            self.merchants.updateValue((merchant,), (state.encode(),))
            for hit in hits:
                yield Row(**dict(zip(ALERT_FIELDS, _alert_row(hit.payment.user_id, hit,
                                                              self.rules, now), strict=True)))

    def close(self) -> None:
        """Nothing to release."""


def valid_payments(kafka_rows: DataFrame) -> DataFrame:
    """Kafka `transactions` records as typed silver-shaped rows, valid ones only (JVM work)."""
    from pyspark.sql import functions as F

    from spark_jobs import bronze_transactions_raw
    from spark_jobs.silver_transactions import check_contract, to_silver_rows

    checked = check_contract(bronze_transactions_raw.transform(kafka_rows))
    return (to_silver_rows(checked.where(F.size("reasons") == 0), 0)
            .withColumn("event_ms", F.unix_millis("event_time"))
            .withColumn("kafka_ms", F.unix_millis("kafka_timestamp")))


def transform(kafka_rows: DataFrame, rules: dict[str, Rule], lateness_s: int) -> DataFrame:
    """Kafka `transactions` records -> alert rows of the per-user rules (ALERT_SCHEMA)."""
    payments = valid_payments(kafka_rows).select(*INPUT_COLUMNS)  # what the processor reads
    processor = UserRulesProcessor(rules, lateness_s * 1000)
    return payments.groupBy("source_partition").transformWithState(
        statefulProcessor=processor, outputStructType=ALERT_SCHEMA, outputMode="Update",
        timeMode="None")


def transform_merchants(kafka_rows: DataFrame, rules: dict[str, Rule],
                        lateness_s: int) -> DataFrame:
    """Kafka `transactions` records -> alert rows of the merchant rule (ALERT_SCHEMA)."""
    from pyspark.sql import functions as F

    rule = rules["compromised_merchant"]
    tickets = F.create_map(*[item for mcc, eur in sorted(elevated_ticket_eur(rule).items())
                             for item in (F.lit(mcc), F.lit(eur))])
    elevated = F.coalesce(
        F.col("amount_eur") >= F.try_element_at(tickets, F.col("merchant_category")),
        F.lit(False))
    payments = valid_payments(kafka_rows).select(
        F.lit(0).alias("all"), "source_partition", "source_offset", "event_ms", "kafka_ms",
        "transaction_id", "payload_sha256", "merchant_id", "card_id", "user_id", "amount_eur",
        elevated.alias("elevated"))
    processor = MerchantRulesProcessor(rules, lateness_s * 1000)
    return payments.groupBy("all").transformWithState(
        statefulProcessor=processor, outputStructType=ALERT_SCHEMA, outputMode="Update",
        timeMode="None")


def _start(spark: SparkSession, settings: Settings, name: str, alerts: DataFrame,
           available_now: bool) -> StreamingQuery:
    from spark_jobs.alert_sink import alerts_topic_writer, to_kafka_messages

    writer = alerts_topic_writer(to_kafka_messages(alerts), settings, name)
    trigger = {"availableNow": True} if available_now else {"processingTime": "0 seconds"}
    return writer.trigger(**trigger).start()  # type: ignore[arg-type]


def _source(spark: SparkSession, settings: Settings) -> DataFrame:
    return io.read_kafka_stream(spark, settings, "transactions",
                                settings.pipeline.max_offsets_per_trigger)


def start(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
    """Start Kafka `transactions` -> per-user rules -> Kafka `alerts`."""
    alerts = transform(_source(spark, settings), load_rules(),
                       settings.pipeline.allowed_lateness_s)
    return _start(spark, settings, QUERY_NAME, alerts, available_now)


def start_merchants(spark: SparkSession, settings: Settings,
                    available_now: bool) -> StreamingQuery:
    """Start Kafka `transactions` -> per-merchant rule -> Kafka `alerts`."""
    alerts = transform_merchants(_source(spark, settings), load_rules(),
                                 settings.pipeline.allowed_lateness_s)
    return _start(spark, settings, MERCHANT_QUERY_NAME, alerts, available_now)
