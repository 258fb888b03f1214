"""gold.labels: what is known of a transaction's truth (fraud or legit), from any source.

An imported history's label column, a chargeback file (`paystream label FILE`), later an
analyst's disposition: each upserts by transaction_id, the newest word wins, and a source
that names no scenario keeps the one known. Labels never enter the payment payload.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.catalog import Catalog
from lakehouse.errors import PaystreamError
from lakehouse.settings import Settings
from lakehouse.stores import delta, postgres
from lakehouse.tables import GOLD_LABELS, SILVER_TRANSACTIONS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

FRAUD_WORDS = frozenset({"1", "true", "t", "yes", "y", "fraud", "fraudulent", "confirmed_fraud",
                         "chargeback"})
LEGIT_WORDS = frozenset({"0", "false", "f", "no", "n", "legit", "genuine", "false_positive",
                         "not_fraud"})


@dataclass(frozen=True)
class Label:
    """What a source says of one transaction."""

    transaction_id: str
    label: str
    scenario: str | None = None
    labelled_at: datetime | None = None


@dataclass
class LabelSummary:
    """Counts of one label file."""

    rows: int = 0
    fraud: int = 0
    legit: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


def is_fraud(value: Any) -> bool:
    """A label cell as fraud or not (1/true/yes/fraud, any case) (pure)."""
    return str(value).strip().lower() in FRAUD_WORDS


def label_word(value: Any) -> str | None:
    """`fraud`, `legit`, or None for a cell that says neither (pure)."""
    word = str(value).strip().lower()
    return "fraud" if word in FRAUD_WORDS else "legit" if word in LEGIT_WORDS else None


def labelled_at(value: Any) -> datetime | None:
    """A label file's date or date-time cell as UTC, None when empty or unreadable (pure)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def earliest_known(labels: Iterable[Label]) -> dict[str, Label]:
    """Each id's last verdict, at the earliest time that verdict was known (pure)."""
    latest: dict[str, Label] = {}
    for label in labels:
        held = latest.get(label.transaction_id)
        if (held is not None and held.label == label.label and held.labelled_at is not None
                and (label.labelled_at is None or held.labelled_at <= label.labelled_at)):
            continue
        latest[label.transaction_id] = label
    return latest


def merge_labels(spark: SparkSession, settings: Settings, labels: Iterable[Label],
                 source: str) -> set[str]:
    """Upsert labels into gold.labels and publish them to Kafka `labels`; return the ids
    published (those whose payment silver holds).

    The last verdict of an id wins, with its time; a verdict the table holds already keeps
    the earliest time it was known (a later file can carry an earlier, truer date).
    """
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    latest = earliest_known(labels)
    if not latest:
        return set()
    now = datetime.now(UTC)
    frame = spark.createDataFrame(
        [(k, v.label, v.scenario, v.labelled_at or now) for k, v in sorted(latest.items())],
        "transaction_id string, label string, scenario string, labelled_at timestamp").select(
        "transaction_id", "label", "scenario", F.lit(source).alias("source"), "labelled_at")
    path = delta.ensure_table(spark, Catalog(settings.lake_location), GOLD_LABELS)
    (DeltaTable.forPath(spark, path).alias("t")
     .merge(frame.alias("s"), "t.transaction_id = s.transaction_id")
     .whenMatchedUpdate(condition="t.label <> s.label OR s.labelled_at < t.labelled_at",
                        set={"label": "s.label",
                             "scenario": "coalesce(s.scenario, t.scenario)",
                             "source": "s.source", "labelled_at": "s.labelled_at"})
     .whenNotMatchedInsertAll().execute())
    if settings.pipeline.risk_decisions:
        return publish_labels(spark, settings, frame)
    return set()


def ensure_labels_topic(settings: Settings) -> None:
    """Create Kafka `labels` from the topics file when it is missing (a no-op when it is
    there; an error naming it when topics are managed elsewhere)."""
    from lakehouse.topics import reconcile_topics, topic_specs

    reconcile_topics(settings.kafka, [s for s in topic_specs(settings) if s.name == "labels"])


def publish_labels(spark: SparkSession, settings: Settings, labels: Any) -> set[str]:
    """Labels (transaction_id, label, labelled_at) to Kafka `labels`, each with its payment's
    merchant and event time from silver; return the ids published."""
    from pyspark.sql import functions as F

    silver_path = Catalog(settings.lake_location).table(SILVER_TRANSACTIONS)
    if not delta.delta_exists(spark, silver_path):
        return set()
    ids = labels.select("transaction_id", "label", "labelled_at")
    payments = delta.read_delta(spark, silver_path).select(
        "transaction_id", "merchant_id", "event_time")
    found = ids.join(payments, "transaction_id").persist()
    try:
        published = {row[0] for row in found.select("transaction_id").collect()}
        if published:
            try:
                ensure_labels_topic(settings)
                (found.select(
                    F.col("transaction_id").cast("binary").alias("key"),
                    F.to_json(F.struct("transaction_id", "label", "merchant_id", "event_time",
                                       "labelled_at")).cast("binary").alias("value"))
                 .write.format("kafka").options(**settings.kafka.spark_options())
                 .option("kafka.acks", "all").option("kafka.max.block.ms", "20000")
                 .option("topic", "labels").save())
            except Exception as error:  # noqa: BLE001 - any JVM failure: one line, what to do
                cause = " ".join(str(error).split())[:200]
                raise PaystreamError(
                    f"the labels are in gold.labels, but Kafka `labels` at "
                    f"{settings.kafka.bootstrap_servers} did not take them ({cause}); start Kafka "
                    "(paystream up) and load them again (it is idempotent), or set "
                    "PAYSTREAM_PIPELINE__RISK_DECISIONS=false when no stream reads labels"
                ) from error
        return published
    finally:
        found.unpersist()


def read_labels(spark: SparkSession, settings: Settings) -> Any:
    """gold.labels (transaction_id, label, scenario, labelled_at), empty when it does not exist."""
    path = Catalog(settings.lake_location).table(GOLD_LABELS)
    if delta.delta_exists(spark, path):
        return delta.read_delta(spark, path).select("transaction_id", "label", "scenario",
                                                 "labelled_at")
    return spark.createDataFrame(
        [], "transaction_id string, label string, scenario string, labelled_at timestamp")


DISPOSITION_WORDS = {"confirmed_fraud": "fraud", "false_positive": "legit"}


def sync_dispositions(spark: SparkSession, settings: Settings) -> tuple[int, int]:
    """Carry the analysts' dispositions (payments.alert_dispositions) into gold.labels and Kafka
    `labels`; a disposition whose payment silver does not hold yet stays pending for the next
    run. Return (synced, still pending)."""
    pending = postgres.pending_dispositions(settings)
    if not pending:
        return 0, 0
    published = merge_labels(spark, settings, [
        Label(tx, DISPOSITION_WORDS[word], None, decided_at)
        for tx, word, decided_at in pending], "disposition")
    done = [(tx, decided_at) for tx, _, decided_at in pending
            if tx in published or not settings.pipeline.risk_decisions]
    postgres.mark_dispositions_synced(settings, done)
    return len(done), len(pending) - len(done)


def run_label_file(spark: SparkSession, settings: Settings, path: Path, source: str,
                   chunk_rows: int = 50_000, time_column: str = "date") -> LabelSummary:
    """Load a label file (transaction_id, label, its known-at time[, scenario]) into gold.labels,
    streamed in chunks; a row without an id or with a label word it cannot read is counted,
    not loaded. A file without `time_column`, or a loaded row whose time is empty or not a
    date, fails in one line: when a label became known is never guessed."""
    from lakehouse.history_files import chunks, iter_rows

    if not path.exists():
        raise PaystreamError(f"file {path} does not exist")
    summary = LabelSummary()
    for rows in chunks(iter_rows(path), chunk_rows):
        found = []
        for row in rows:
            summary.rows += 1
            word = label_word(row.get("label"))
            tx = str(row.get("transaction_id") or "").strip()
            reason = "no_transaction_id" if not tx else "unknown_label" if word is None else None
            if reason:
                summary.rejected[reason] = summary.rejected.get(reason, 0) + 1
                continue
            assert word is not None
            if time_column not in row:
                raise PaystreamError(f"{path} has no {time_column!r} column: name the column "
                                     "of each label's known-at time with --time-column")
            known = labelled_at(row[time_column])
            if known is None:
                raise PaystreamError(f"{path} row {summary.rows}: {time_column} "
                                     f"{row[time_column]!r} is not a date or date-time")
            found.append(Label(tx, word, row.get("scenario") or None, known))
            summary.fraud += word == "fraud"
            summary.legit += word == "legit"
        merge_labels(spark, settings, found, source)
    return summary
