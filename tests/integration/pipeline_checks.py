"""Shared set-up and invariants of the pipeline tests: fresh topics, clean sinks, reconciling."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from typing import Any

from lakehouse.catalog import Catalog
from lakehouse.settings import Settings
from lakehouse.stores.kafka import admin_client
from lakehouse.topics import reconcile_topics, topic_specs
from paystream.runtime.processes import wait_until

PIPELINE_TOPICS = ("transactions", "transactions_clean", "alerts", "transactions_dlq", "decisions",
                   "labels")
SCHEMA_FAULTS = {"malformed_json", "missing_field", "wrong_type", "non_positive_amount",
                 "unknown_currency", "bad_timestamp", "oversized"}


def recreate_topics(settings: Settings) -> None:
    """Delete the pipeline topics and create them again from the topics file."""
    admin = admin_client(settings.kafka)
    try:
        existing = set(admin.list_topics()) & set(PIPELINE_TOPICS)
        if existing:
            admin.delete_topics(sorted(existing))
            # Deletion is asynchronous: a reconcile that still saw a topic being deleted found
            # nothing to do, and the topic then vanished under the next test (seen once in
            # three back-to-back runs of two tests that each recreate the topics).
            assert wait_until(lambda: not set(admin.list_topics()) & existing, 60,
                              interval_s=0.2), f"topics still listed: {sorted(existing)}"
    finally:
        admin.close()
    specs = topic_specs(settings)
    for attempt in range(40):
        try:
            reconcile_topics(settings.kafka, specs)
            return
        except Exception:  # noqa: BLE001 - a topic marked for deletion is briefly in the way
            if attempt == 39:
                raise
            time.sleep(0.5)


def topic_records(settings: Settings, topic: str) -> int:
    """Records in a topic: the sum of its partitions' end offsets."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**settings.kafka.python_client_config())
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def clear_postgres(settings: Settings) -> None:
    """Empty the alert and metric tables the pipeline writes."""
    from lakehouse.stores.postgres import owner_connection

    conn = owner_connection(settings)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("TRUNCATE payments.alerts, payments.pipeline_metrics, payments.decisions, "
                        "payments.alert_dispositions, payments.transactions, "
                        "payments.rules_versions")
    finally:
        conn.close()


def rows(spark: Any, catalog: Catalog, table: str, *columns: str) -> list[Any]:
    """Selected columns of a Delta table, collected."""
    return spark.read.format("delta").load(catalog.table(table)).select(*columns).collect()


def bronze_labels(spark: Any, catalog: Catalog) -> dict[tuple[int, int], dict[str, str]]:
    """(partition, offset) -> header labels, from bronze."""
    return {
        (r["partition"], r["offset"]): {h["key"]: bytes(h["value"]).decode()
                                        for h in r["headers"] or ()}  # a record may have none
        for r in rows(spark, catalog, "bronze.transactions_raw", "partition", "offset", "headers")
    }


def reconcile(spark: Any, catalog: Catalog, expected_events: int) -> dict[str, Counter[str]]:
    """Check bronze = silver + quarantine + removed duplicates; return outcomes per fault kind."""
    labels = bronze_labels(spark, catalog)
    assert len(labels) == expected_events, (len(labels), expected_events)
    silver_rows = rows(spark, catalog, "silver.transactions", "source_partition", "source_offset",
                       "transaction_id")
    silver = {(r["source_partition"], r["source_offset"]): r["transaction_id"]
              for r in silver_rows}
    assert len(silver) == len(silver_rows), "a source record is in silver twice"
    quarantine_rows = rows(spark, catalog, "silver.quarantine", "source_partition",
                           "source_offset", "reasons")
    quarantine = {(r["source_partition"], r["source_offset"]): list(r["reasons"])
                  for r in quarantine_rows}
    assert len(quarantine) == len(quarantine_rows), "a source record is quarantined twice"
    bronze_ids: dict[tuple[int, int], Any] = {}
    for r in rows(spark, catalog, "bronze.transactions_raw", "partition", "offset", "value"):
        try:
            bronze_ids[(r["partition"], r["offset"])] = json.loads(bytes(r["value"]))[
                "transaction_id"]
        except (ValueError, KeyError, TypeError):
            bronze_ids[(r["partition"], r["offset"])] = None
    assert not set(silver) & set(quarantine), "a record is in silver and in quarantine"
    assert len(set(silver.values())) == len(silver), "silver holds a transaction twice"
    silver_ids = set(silver.values())
    outcome: dict[str, Counter[str]] = defaultdict(Counter)
    for coordinates, label in labels.items():
        kind = label.get("fault", "none")
        if coordinates in silver:
            outcome[kind]["silver"] += 1
        elif coordinates in quarantine:
            outcome[kind]["quarantine"] += 1
        else:
            assert bronze_ids[coordinates] in silver_ids, coordinates
            outcome[kind]["duplicate_removed"] += 1
    for fault in SCHEMA_FAULTS:
        assert set(outcome[fault]) <= {"quarantine"}, (fault, outcome[fault])
    assert set(outcome["duplicate"]) <= {"duplicate_removed", "quarantine"}
    for coordinates, reasons in quarantine.items():
        if "too_late" in reasons:
            assert labels[coordinates].get("fault") in ("late_arrival", "duplicate"), reasons
    return outcome


def gold_alert_ids(spark: Any, catalog: Catalog) -> dict[str, tuple[str, str]]:
    """alert_id -> (rule_id, transaction_id) from gold.alerts, which must hold each id once."""
    alert_rows = rows(spark, catalog, "gold.alerts", "alert_id", "rule_id", "transaction_id")
    alerts = {r["alert_id"]: (r["rule_id"], r["transaction_id"]) for r in alert_rows}
    assert len(alerts) == len(alert_rows), "gold.alerts holds an alert twice"
    return alerts


def postgres_alert_ids(settings: Settings) -> dict[str, tuple[str, str]]:
    """alert_id -> (rule_id, transaction_id) from PostgreSQL payments.alerts."""
    from lakehouse.stores.postgres import owner_connection

    conn = owner_connection(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT alert_id, rule_id, transaction_id FROM payments.alerts")
            return {row[0]: (row[1], row[2]) for row in cur.fetchall()}
    finally:
        conn.close()


def assert_transactions_mirrored(spark: Any, settings: Settings, catalog: Catalog) -> int:
    """PostgreSQL payments.transactions holds exactly silver's payments, each once (NUL in an id
    written as U+FFFD, as every PostgreSQL sink does); return how many."""
    from lakehouse.stores.postgres import owner_connection

    silver = [r[0].replace("\x00", "\ufffd")
              for r in rows(spark, catalog, "silver.transactions", "transaction_id")]
    conn = owner_connection(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT transaction_id FROM payments.transactions")
            mirrored = [row[0] for row in cur.fetchall()]
    finally:
        conn.close()
    assert len(mirrored) == len(set(mirrored)), "a payment is in PostgreSQL twice"
    assert set(mirrored) == set(silver), (len(mirrored), len(silver))
    return len(mirrored)


def batch_alert_ids(spark: Any, settings: Settings, catalog: Catalog) -> dict[str, tuple[str, str]]:
    """The backfill side's alerts over every silver date."""
    from pyspark.sql import functions as F

    from spark_jobs.gold_batch import batch_alerts

    silver = spark.read.format("delta").load(catalog.table("silver.transactions"))
    first, last = silver.agg(F.min("event_date"), F.max("event_date")).first()
    return {r["alert_id"]: (r["rule_id"], r["transaction_id"])
            for r in batch_alerts(spark, settings, first, last)
            .select("alert_id", "rule_id", "transaction_id").collect()}


def topic_values(spark: Any, settings: Settings, topic: str) -> list[dict[str, Any]]:
    """Every record on a Kafka topic, its JSON value parsed (a batch Spark read)."""
    frame = (spark.read.format("kafka").options(**settings.kafka.spark_options())
             .option("subscribe", topic).option("startingOffsets", "earliest")
             .option("endingOffsets", "latest").load())
    return [json.loads(bytes(r["value"])) for r in frame.select("value").collect()]


def check_decisions(spark: Any, settings: Settings, catalog: Catalog) -> Counter[str]:
    """One decision per silver payment on Kafka `decisions` (a redelivered one identical), equal
    to the batch's; PostgreSQL holds exactly the review and block ones. Return the bands."""
    from pyspark.sql import functions as F

    from lakehouse.risk import load_risk
    from lakehouse.rules import load_rules
    from lakehouse.stores.postgres import owner_connection
    from spark_jobs.risk_decisions import batch_decisions

    streamed: dict[str, tuple[str, tuple[str, ...]]] = {}
    for value in topic_values(spark, settings, "decisions"):
        found = (value["decision"], tuple(value["fired"]))
        assert streamed.setdefault(value["transaction_id"], found) == found, value
    silver = spark.read.format("delta").load(catalog.table("silver.transactions"))
    assert set(streamed) == {r[0] for r in silver.select("transaction_id").collect()}
    first, last = silver.agg(F.min("event_date"), F.max("event_date")).first()
    batch = {r["transaction_id"]: (r["decision"], tuple(r["fired"])) for r in batch_decisions(
        spark, settings, first, last, load_rules(settings.rules_file),
        load_risk(settings.rules_file)).collect()}
    differ = {tx: (streamed.get(tx), batch.get(tx)) for tx in set(streamed) | set(batch)
              if streamed.get(tx) != batch.get(tx)}
    assert not differ, (f"{len(differ)} decisions differ (stream, batch): "
                        f"{sorted(differ.items())[:10]}")
    conn = owner_connection(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT transaction_id, decision FROM payments.decisions")
            flagged = dict(cur.fetchall())
    finally:
        conn.close()
    assert flagged == {tx: d for tx, (d, _) in streamed.items() if d != "approve"}
    return Counter(d for d, _ in streamed.values())


def send_records(settings: Settings, records: list[tuple[bytes | None, bytes | None]]) -> None:
    """Send (key, value) records to `transactions` and wait until the broker has them all."""
    from producer.kafka_sink import make_producer

    producer = make_producer(settings.kafka)
    try:
        for key, value in records:
            producer.send("transactions", key=key, value=value)
        producer.flush(timeout=60)
    finally:
        producer.close()
