"""Every Delta table of the lake, declared once: its name and the columns it is partitioned by.

Jobs, sinks, checks and pages name a table through these constants (never a string), and
take its partitioning from here; `Catalog(root).table(SILVER_TRANSACTIONS)` gives its path.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """One Delta table: `layer.name`, and the date columns its files are partitioned by."""

    name: str
    partition_by: tuple[str, ...]

    @property
    def sql_name(self) -> str:
        """The name the table gets in SQL (DuckDB, the dashboard): `silver_transactions`."""
        return self.name.replace(".", "_")

    def __str__(self) -> str:
        return self.name


BRONZE_TRANSACTIONS_RAW = Table("bronze.transactions_raw", ("ingest_date",))
"""Every Kafka record as received, with its headers (written by the lake query)."""
SILVER_TRANSACTIONS = Table("silver.transactions", ("event_date",))
"""Typed, valid, deduplicated payments with amount_eur (the lake query, the import)."""
SILVER_QUARANTINE = Table("silver.quarantine", ("quarantine_date",))
"""Records that broke the contract, each with its reasons."""
GOLD_ALERTS = Table("gold.alerts", ("event_date",))
"""Every alert once, by alert_id (the alert sink, the backfill's closed days)."""
GOLD_USER_ACTIVITY_1M = Table("gold.user_activity_1m", ("event_date",))
"""Per-minute payment counts and amounts by user (additive rows)."""
GOLD_MERCHANT_ACTIVITY_1M = Table("gold.merchant_activity_1m", ("event_date",))
"""Per-minute payment counts and amounts by merchant (additive rows)."""
GOLD_DAILY_REPORT = Table("gold.daily_report", ("report_date",))
"""One row per day: counts, amounts, alerts by rule, stream = batch reconciliation."""
GOLD_LABELS = Table("gold.labels", ())
"""Fraud and legit verdicts by transaction, with the time each became known."""

TABLES = (BRONZE_TRANSACTIONS_RAW, SILVER_TRANSACTIONS, SILVER_QUARANTINE, GOLD_ALERTS,
          GOLD_USER_ACTIVITY_1M, GOLD_MERCHANT_ACTIVITY_1M, GOLD_DAILY_REPORT, GOLD_LABELS)
"""The lake's tables, in the order the data flows through them."""
