"""Every Delta table of the lake, declared once: name, schema, partition columns, writer.

Jobs, sinks, checks and pages name a table through these constants (never a string), and
take its partitioning from here; `Catalog(root).table(SILVER_TRANSACTIONS)` gives its path.
A table is created empty with its declared schema (lakehouse.stores.delta.ensure_table), and every
write is checked against it first, so a transform that drifts fails before it lands.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """One Delta table: `layer.name`, its schema (Spark DDL: column names and types, every
    column nullable), the date columns its files are partitioned by, and the modules that
    write it (a name per writer; an idempotent writer keys its commits by its app id)."""

    name: str
    partition_by: tuple[str, ...]
    schema: str
    writers: tuple[str, ...]

    @property
    def sql_name(self) -> str:
        """The name the table gets in SQL (DuckDB, the dashboard): `silver_transactions`."""
        return self.name.replace(".", "_")

    def __str__(self) -> str:
        return self.name


BRONZE_TRANSACTIONS_RAW = Table(
    "bronze.transactions_raw", ("ingest_date",),
    "key BINARY, value BINARY, headers ARRAY<STRUCT<key: STRING, value: BINARY>>, topic STRING, "
    "partition INT, offset BIGINT, kafka_timestamp TIMESTAMP, ingest_time TIMESTAMP, "
    "ingest_date DATE",
    ("spark_jobs.medallion", "spark_jobs.history_import"))
"""Every Kafka record as received, with its headers (written by the lake query)."""
SILVER_TRANSACTIONS = Table(
    "silver.transactions", ("event_date",),
    "transaction_id STRING, user_id STRING, card_id STRING, amount DECIMAL(18,2), currency STRING, "
    "amount_eur DECIMAL(18,2), merchant_id STRING, merchant_category STRING, event_time TIMESTAMP, "
    "event_date DATE, country STRING, city STRING, lat DOUBLE, lon DOUBLE, channel STRING, "
    "schema_version INT, source_topic STRING, source_partition INT, source_offset BIGINT, "
    "kafka_timestamp TIMESTAMP, ingest_time TIMESTAMP, payload_sha256 STRING, "
    "silver_batch_id BIGINT, silver_time TIMESTAMP",
    ("spark_jobs.silver_transactions", "spark_jobs.history_import"))
"""Typed, valid, deduplicated payments with amount_eur (the lake query, the import)."""
SILVER_QUARANTINE = Table(
    "silver.quarantine", ("quarantine_date",),
    "key BINARY, value BINARY, headers ARRAY<STRUCT<key: STRING, value: BINARY>>, "
    "source_topic STRING, source_partition INT, source_offset BIGINT, kafka_timestamp TIMESTAMP, "
    "ingest_time TIMESTAMP, "
    "reasons ARRAY<STRING>, primary_reason STRING, quarantined_at TIMESTAMP, quarantine_date DATE, "
    "silver_batch_id BIGINT, replayed_at TIMESTAMP, replay_id STRING",
    ("spark_jobs.silver_transactions", "spark_jobs.history_import", "spark_jobs.quarantine_replay"))
"""Records that broke the contract, each with its reasons."""
GOLD_ALERTS = Table(
    "gold.alerts", ("event_date",),
    "alert_id STRING, rule_id STRING, severity STRING, transaction_id STRING, user_id STRING, "
    "merchant_id STRING, amount_eur DECIMAL(18,2), event_time TIMESTAMP, event_date DATE, "
    "detected_at TIMESTAMP, details STRING, gold_batch_id BIGINT, rules_version STRING",
    ("spark_jobs.gold_alerts",))
"""Every alert once, by alert_id (its one writer serves the alert sink and the backfill)."""
GOLD_USER_ACTIVITY_1M = Table(
    "gold.user_activity_1m", ("event_date",),
    "user_id STRING, minute TIMESTAMP, payments BIGINT, amount_eur DECIMAL(28,2), event_date DATE",
    ("spark_jobs.gold_activity", "spark_jobs.daily_report", "spark_jobs.history_import"))
"""Per-minute payment counts and amounts by user (additive rows)."""
GOLD_MERCHANT_ACTIVITY_1M = Table(
    "gold.merchant_activity_1m", ("event_date",),
    "merchant_id STRING, minute TIMESTAMP, payments BIGINT, amount_eur DECIMAL(28,2), "
    "event_date DATE",
    ("spark_jobs.gold_activity", "spark_jobs.daily_report", "spark_jobs.history_import"))
"""Per-minute payment counts and amounts by merchant (additive rows)."""
GOLD_DAILY_REPORT = Table(
    "gold.daily_report", ("report_date",),
    "report_date DATE, payments BIGINT, amount_eur DECIMAL(28,2), users BIGINT, merchants BIGINT, "
    "by_currency ARRAY<STRUCT<currency: STRING, payments: BIGINT, amount_eur: DECIMAL(28,2)>>, "
    "by_country ARRAY<STRUCT<country: STRING, payments: BIGINT, amount_eur: DECIMAL(28,2)>>, "
    "by_mcc ARRAY<STRUCT<merchant_category: STRING, payments: BIGINT, amount_eur: DECIMAL(28,2)>>, "
    "alerts_by_rule ARRAY<STRUCT<rule_id: STRING, severity: STRING, alerts: BIGINT>>, "
    "top_users ARRAY<STRUCT<user_id: STRING, alerts: BIGINT>>, "
    "top_merchants ARRAY<STRUCT<merchant_id: STRING, alerts: BIGINT>>, "
    "quarantine_by_reason ARRAY<STRUCT<reason: STRING, records: BIGINT>>, streamed_alerts BIGINT, "
    "batch_alerts BIGINT, alerts_only_streamed BIGINT, alerts_only_batch BIGINT, "
    "generated_at TIMESTAMP",
    ("spark_jobs.daily_report",))
"""One row per day: counts, amounts, alerts by rule, stream = batch reconciliation."""
GOLD_LABELS = Table(
    "gold.labels", (),
    "transaction_id STRING, label STRING, scenario STRING, source STRING, labelled_at TIMESTAMP",
    ("spark_jobs.gold_labels",))
"""Fraud and legit verdicts by transaction, with the time each became known."""
GOLD_CATEGORY_FACTORS = Table(
    "gold.category_factors", (),
    "merchant_category STRING, factor DOUBLE, payments BIGINT, mean_eur DECIMAL(18,2), "
    "source STRING, computed_from DATE, computed_to DATE, computed_at TIMESTAMP",
    ("spark_jobs.reference_stats",))
"""Per merchant category, what scales a user's usual spend to that category (`learned` from
silver, or the cold-start `default`); each run replaces every row, so the table's Delta
version is the version of the statistics."""
GOLD_RISK_MODELS = Table(
    "gold.risk_models", (),
    "version INT, status STRING, trained_at TIMESTAMP, labels_known_at TIMESTAMP, "
    "train_from DATE, train_to DATE, valid_from DATE, valid_to DATE, train_payments BIGINT, "
    "train_frauds BIGINT, valid_payments BIGINT, valid_frauds BIGINT, threshold DOUBLE, "
    "valid_auc_pr DOUBLE, valid_precision DOUBLE, valid_recall DOUBLE, "
    "compared_precision DOUBLE, compared_recall DOUBLE, "
    "champion_precision DOUBLE, champion_recall DOUBLE, "
    "importances ARRAY<STRUCT<name: STRING, value: DOUBLE>>, path STRING, "
    "decided_at TIMESTAMP, note STRING",
    ("spark_jobs.risk_model_registry",))
"""The registry of learned risk models: one row per trained version with its periods, its
out-of-time validation figures and its status (challenger, champion, retired, rejected); the
stream, the backfill and the backtest score with the champion (spark_jobs.risk_model)."""

TABLES = (BRONZE_TRANSACTIONS_RAW, SILVER_TRANSACTIONS, SILVER_QUARANTINE, GOLD_ALERTS,
          GOLD_USER_ACTIVITY_1M, GOLD_MERCHANT_ACTIVITY_1M, GOLD_DAILY_REPORT, GOLD_LABELS,
          GOLD_CATEGORY_FACTORS, GOLD_RISK_MODELS)
"""The lake's tables, in the order the data flows through them."""
