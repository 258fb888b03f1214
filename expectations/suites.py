"""The Great Expectations suites, one per table, as code under version control.

Every expectation carries a severity: `critical` ones fail the data_quality
DAG run (and `paystream dq`); `warning` ones are reported only. The allowed
values come from the project's own sources of truth (the event contract, the
FX table, the rules file the pipeline reads), so a suite cannot drift from the pipeline.
"""

from __future__ import annotations

from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.metadata_types import FailureSeverity

from lakehouse.event_contract import QUARANTINE_REASONS, contract_limits
from lakehouse.fx import fx_table
from lakehouse.rules import SEVERITIES, load_rules
from lakehouse.settings import Settings
from lakehouse.tables import (
    BRONZE_TRANSACTIONS_RAW,
    GOLD_ALERTS,
    GOLD_DAILY_REPORT,
    SILVER_QUARANTINE,
    SILVER_TRANSACTIONS,
)

CRITICAL = FailureSeverity.CRITICAL
WARNING = FailureSeverity.WARNING
FRESHNESS_S = 6 * 3600
"""silver is stale when its newest event is older than this (a warning)."""


def _not_null(*columns: str) -> list[Any]:
    return [gxe.ExpectColumnValuesToNotBeNull(column=c, severity=CRITICAL) for c in columns]


def bronze_transactions_raw(settings: Settings) -> gx.ExpectationSuite:
    """Every Kafka record once, with its coordinates."""
    return gx.ExpectationSuite(name="bronze_transactions_raw", expectations=[
        *_not_null("topic", "partition", "offset", "kafka_timestamp", "ingest_time"),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["topic", "partition", "offset"],
                                            severity=CRITICAL),
    ])


def silver_transactions(settings: Settings) -> gx.ExpectationSuite:
    """Typed, valid, unique payments in the currencies of the FX table the pipeline reads;
    times within the contract's bounds; fresh."""
    limits = contract_limits()
    return gx.ExpectationSuite(name="silver_transactions", expectations=[
        *_not_null("transaction_id", "user_id", "card_id", "merchant_id", "amount",
                   "amount_eur", "currency", "event_time", "event_date"),
        gxe.ExpectColumnValuesToBeUnique(column="transaction_id", severity=CRITICAL),
        gxe.ExpectColumnValuesToBeBetween(column="amount_eur", min_value=0, strict_min=True,
                                          severity=CRITICAL),
        gxe.ExpectColumnValuesToBeInSet(column="currency",
                                        value_set=sorted(fx_table(settings.fx_rates_file)),
                                        severity=CRITICAL),
        gxe.ExpectColumnValuesToBeBetween(
            column="event_age_at_arrival_s", min_value=-limits["max_future_seconds"],
            max_value=limits["max_age_days"] * 86400, severity=CRITICAL),
        gxe.ExpectColumnMinToBeBetween(column="event_age_now_s", max_value=FRESHNESS_S,
                                       severity=WARNING),
    ])


def silver_quarantine(settings: Settings) -> gx.ExpectationSuite:
    """Every quarantined record keeps its coordinates and a known reason."""
    return gx.ExpectationSuite(name="silver_quarantine", expectations=[
        *_not_null("source_topic", "source_partition", "source_offset", "primary_reason"),
        gxe.ExpectColumnValuesToBeInSet(column="primary_reason",
                                        value_set=list(QUARANTINE_REASONS), severity=CRITICAL),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["source_topic", "source_partition", "source_offset"], severity=CRITICAL),
    ])


def gold_alerts(settings: Settings) -> gx.ExpectationSuite:
    """Unique alerts of the rules the pipeline runs with (settings.rules_file, which
    PAYSTREAM_RULES_FILE sets), with valid severities."""
    return gx.ExpectationSuite(name="gold_alerts", expectations=[
        *_not_null("alert_id", "rule_id", "severity", "transaction_id", "user_id",
                   "event_time", "detected_at"),
        gxe.ExpectColumnValuesToBeUnique(column="alert_id", severity=CRITICAL),
        gxe.ExpectColumnValuesToBeInSet(column="rule_id",
                                        value_set=sorted(load_rules(settings.rules_file)),
                                        severity=CRITICAL),
        gxe.ExpectColumnValuesToBeInSet(column="severity", value_set=list(SEVERITIES),
                                        severity=CRITICAL),
    ])


def gold_daily_report(settings: Settings) -> gx.ExpectationSuite:
    """One report per date whose totals match silver for that date."""
    return gx.ExpectationSuite(name="gold_daily_report", expectations=[
        *_not_null("report_date", "payments"),
        gxe.ExpectColumnValuesToBeUnique(column="report_date", severity=CRITICAL),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="payments", column_B="silver_payments",
                                            severity=CRITICAL),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="amount_eur", column_B="silver_amount_eur",
                                            severity=CRITICAL),
    ])


SUITES = {
    BRONZE_TRANSACTIONS_RAW.name: bronze_transactions_raw,
    SILVER_TRANSACTIONS.name: silver_transactions,
    SILVER_QUARANTINE.name: silver_quarantine,
    GOLD_ALERTS.name: gold_alerts,
    GOLD_DAILY_REPORT.name: gold_daily_report,
}
"""The suite of each table, by table name, built from the settings the pipeline runs with."""
