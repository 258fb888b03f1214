"""Kafka `decisions` -> PostgreSQL payments.decisions: the payments the risk score sent to review
or block, which the dashboard's review queue lists (approvals stay on the topic).

A small micro-batch query with its own checkpoint; the upsert keys on transaction_id, so a
replayed batch changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.catalog import Catalog
from lakehouse.settings import Settings
from lakehouse.spark import utc
from lakehouse.stores import kafka, postgres

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

QUERY_NAME = "decisions_postgres"
TRIGGER_S = 5
"""The review queue is read by people: a batch every few seconds costs the alert path less."""
MESSAGE_SCHEMA = (
    "transaction_id string, user_id string, merchant_id string, amount_eur string, "
    "event_time timestamp, decided_at timestamp, risk_score double, decision string, "
    "contributions array<struct<name:string,value:double>>, fired array<string>, "
    "features map<string,string>, payment_kafka_time timestamp, rules_version string, "
    "model_version int, model_score double, model_reasons array<struct<name:string,value:double>>"
)
"""A record on Kafka `decisions` (spark_jobs.stateful_alerts.to_topic_messages writes them)."""


def flagged(kafka_rows: DataFrame) -> DataFrame:
    """Kafka `decisions` records sent to review or block, as payments.decisions rows."""
    from pyspark.sql import functions as F

    flagged_band = F.exists("headers", lambda h: (h["key"] == "decision")
                            & h["value"].cast("string").isin("review", "block"))
    m = F.from_json(F.col("value").cast("string"), MESSAGE_SCHEMA).alias("m")
    return kafka_rows.where(flagged_band).select(m).where(
        F.col("m.decision").isin("review", "block")).select(
        "m.transaction_id", "m.user_id", "m.merchant_id",
        F.col("m.amount_eur").try_cast("decimal(18,2)").alias("amount_eur"), "m.event_time",
        "m.decided_at", "m.risk_score", "m.decision",
        F.to_json("m.contributions").alias("contributions"),
        F.to_json("m.fired").alias("fired"), F.to_json("m.features").alias("features"),
        "m.rules_version", "m.model_version", "m.model_score",
        F.to_json("m.model_reasons").alias("model_reasons"))


class DecisionSink:
    """foreachBatch of `decisions_postgres`: upsert the batch's flagged payments."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, kafka_rows: DataFrame, batch_id: int) -> None:
        """Upsert one batch; a transaction held already is left as it is."""
        rows = {r["transaction_id"]: (
            r["transaction_id"], r["user_id"], r["merchant_id"], r["amount_eur"],
            utc(r["event_time"]), utc(r["decided_at"]), r["risk_score"], r["decision"],
            r["contributions"], r["fired"], r["features"], r["rules_version"],
            r["model_version"], r["model_score"], r["model_reasons"])
            for r in flagged(kafka_rows).collect()}
        postgres.upsert_decisions(self.settings, list(rows.values()))


def start(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
    """Start Kafka `decisions` -> PostgreSQL payments.decisions."""
    source = kafka.read_kafka_stream(spark, settings, "decisions",
                                     settings.pipeline.max_offsets_per_trigger)
    writer = (source.writeStream.queryName(QUERY_NAME)
              .foreachBatch(DecisionSink(settings))
              .option("checkpointLocation",
                      Catalog(settings.lake_location).checkpoint(QUERY_NAME)))
    writer = writer.trigger(availableNow=True) if available_now else writer.trigger(
        processingTime=f"{TRIGGER_S} seconds")
    return writer.start()
