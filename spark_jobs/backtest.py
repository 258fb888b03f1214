"""`paystream backtest`: what a rule set would have alerted over silver, scored against labels.

The batch rules (spark_jobs.gold_batch, the stream's own rule functions) run over a range of
silver dates; each alert is joined to gold.labels by transaction_id. Per rule and overall:
alerts, alerts per day, true and false positives, precision, recall, alerted EUR and fraud
EUR caught; per scenario where the labels name one. Nothing is written to gold.alerts or
PostgreSQL. A transaction without a label counts as not fraud.

The truth is every label in gold.labels, whatever its labelled_at; the behavioural features
count a label only from its labelled_at on (lakehouse.behaviour). So the truth of frauds never
reported (`paystream history --unreported-share`, loaded dated 2999-12-31) is scored here and
known to no rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lakehouse.catalog import Catalog
from lakehouse.errors import PaystreamError
from lakehouse.risk import RiskConfig
from lakehouse.rules import BEHAVIOUR_RULES, Rule
from lakehouse.settings import Settings
from lakehouse.stores import delta
from lakehouse.tables import SILVER_TRANSACTIONS
from spark_jobs import gold_labels
from spark_jobs.gold_batch import batch_alerts

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from spark_jobs.risk_model import LiveModel

OVERALL = "(any rule)"
FLAGGED = "decision:review+block"
BLOCKED = "decision:block"


@dataclass(frozen=True)
class RuleScore:
    """One rule's (or the whole set's) alerts against the labels."""

    rule_id: str
    alerts: int
    alerts_per_day: float
    true_positives: int
    false_positives: int
    precision: float | None
    recall: float | None
    alerted_eur: Decimal
    fraud_eur_caught: Decimal


@dataclass(frozen=True)
class ScenarioScore:
    """Frauds of one labelled scenario and how many any rule caught."""

    scenario: str
    frauds: int
    caught: int
    recall: float | None
    flagged: int | None = None
    flagged_recall: float | None = None


@dataclass
class BacktestReport:
    """The scores of one rule set over one date range."""

    first: date
    last: date
    payments: int
    frauds: int
    fraud_eur: Decimal
    rules: list[RuleScore]
    overall: RuleScore
    scenarios: list[ScenarioScore] = field(default_factory=list)
    daily: list[tuple[date, str, int]] = field(default_factory=list)
    decisions: list[RuleScore] = field(default_factory=list)

    @property
    def days(self) -> int:
        """Days in the range, both ends included."""
        return (self.last - self.first).days + 1

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        def plain(value: Any) -> Any:
            if isinstance(value, Decimal):
                return float(value)
            if isinstance(value, date):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [plain(v) for v in value]
            return value

        summary: dict[str, Any] = plain({
            "first": self.first, "last": self.last, "days": self.days,
            "payments": self.payments, "frauds": self.frauds, "fraud_eur": self.fraud_eur,
            "rules": [asdict(r) for r in self.rules], "overall": asdict(self.overall),
            "scenarios": [asdict(s) for s in self.scenarios],
            "decisions": [asdict(d) for d in self.decisions],
            "daily": [{"date": d, "rule_id": r, "alerts": n} for d, r, n in self.daily]})
        return summary


def ratio(part: int, whole: int) -> float | None:
    """part / whole, None when whole is 0 (pure)."""
    return part / whole if whole else None


def score(rule_id: str, alerted: int, true_positives: int, alerted_eur: Decimal,
          caught_eur: Decimal, frauds: int, days: int) -> RuleScore:
    """A RuleScore from counts (pure)."""
    return RuleScore(rule_id, alerted, round(alerted / days, 2) if days else 0.0,
                     true_positives, alerted - true_positives, ratio(true_positives, alerted),
                     ratio(true_positives, frauds), alerted_eur, caught_eur)


def silver_range(spark: SparkSession, settings: Settings) -> tuple[date, date]:
    """The first and last event date in silver, or a one-line error when it is empty."""
    from pyspark.sql import functions as F

    path = Catalog(settings.lake_location).table(SILVER_TRANSACTIONS)
    if not delta.delta_exists(spark, path):
        raise PaystreamError(f"{SILVER_TRANSACTIONS} does not exist yet: import or stream data "
                             "first")
    silver = delta.read_delta(spark, path)
    first, last = silver.agg(F.min("event_date"), F.max("event_date")).collect()[0]
    if first is None:
        raise PaystreamError(f"{SILVER_TRANSACTIONS} is empty")
    return first, last


def labelled_payments(spark: SparkSession, settings: Settings, first: date,
                      last: date, known_at: datetime | None = None) -> DataFrame:
    """Silver payments in the range with `is_fraud` and `scenario` from gold.labels (only the
    labels known at `known_at`, when given)."""
    from pyspark.sql import functions as F

    payments = delta.read_table(spark, Catalog(settings.lake_location), SILVER_TRANSACTIONS).where(
        F.col("event_date").between(F.lit(first), F.lit(last))).select(
        "transaction_id", "amount_eur", "event_date")
    labels = gold_labels.read_labels(spark, settings)
    if known_at is not None:
        labels = labels.where(F.col("labelled_at") <= F.lit(known_at))
    labels = labels.select("transaction_id", "label", "scenario")
    return (payments.join(labels, "transaction_id", "left")
            .withColumn("is_fraud", F.coalesce(F.col("label") == "fraud", F.lit(False)))
            .drop("label"))


def _scored(frame: DataFrame, name: str, frauds: int, days: int) -> RuleScore:
    """A RuleScore of flagged rows (transaction_id, amount_eur, is_fraud)."""
    from pyspark.sql import functions as F

    row = frame.agg(F.count("*"), F.sum(F.col("is_fraud").cast("int")), F.sum("amount_eur"),
                    F.sum(F.when(F.col("is_fraud"), F.col("amount_eur")))).collect()[0]
    return score(name, int(row[0]), int(row[1] or 0), row[2] or Decimal(0),
                 row[3] or Decimal(0), frauds, days)


def run_backtest(spark: SparkSession, settings: Settings, rules: dict[str, Rule],
                 first: date, last: date, risk: RiskConfig | None = None,
                 model: LiveModel | None = None,
                 known_at: datetime | None = None) -> BacktestReport:
    """Score the enabled rules of `rules` over silver dates [first, last]; with `risk`, also
    the risk decisions (review or block, and block alone), scored by `model` too when given;
    the truth: every label, or those known at `known_at`."""
    from pyspark.sql import functions as F

    from spark_jobs.gold_batch import featured_payments
    from spark_jobs.risk_decisions import decide_payments

    truth = labelled_payments(spark, settings, first, last, known_at).persist()
    featured = (featured_payments(spark, settings, first, last, rules).localCheckpoint()
                if risk is not None or any_behavioural(rules) else None)
    raised = batch_alerts(spark, settings, first, last, rules, featured).persist()
    alerts = (raised.select("rule_id", "transaction_id").distinct()
              .join(truth, "transaction_id").persist())
    flagged = None
    if risk is not None and featured is not None:
        flagged = (decide_payments(featured, raised, rules, risk, model)
                   .where(F.col("decision") != "approve")
                   .select("transaction_id", "decision").join(truth, "transaction_id").persist())
    try:
        totals = truth.agg(F.count("*"), F.sum(F.col("is_fraud").cast("int")),
                           F.sum(F.when(F.col("is_fraud"), F.col("amount_eur")))).collect()[0]
        payments, frauds = int(totals[0]), int(totals[1] or 0)
        fraud_eur = totals[2] or Decimal(0)
        days = (last - first).days + 1
        counts = {row["rule_id"]: row for row in alerts.groupBy("rule_id").agg(
            F.count("*").alias("n"), F.sum(F.col("is_fraud").cast("int")).alias("tp"),
            F.sum("amount_eur").alias("eur"),
            F.sum(F.when(F.col("is_fraud"), F.col("amount_eur"))).alias("caught")).collect()}
        scores = []
        for rule_id in sorted(rid for rid, rule in rules.items() if rule.enabled):
            row = counts.get(rule_id)
            scores.append(score(rule_id, int(row["n"]) if row else 0,
                                int(row["tp"] or 0) if row else 0,
                                (row["eur"] or Decimal(0)) if row else Decimal(0),
                                (row["caught"] or Decimal(0)) if row else Decimal(0),
                                frauds, days))
        anyrule = alerts.select("transaction_id", "amount_eur", "is_fraud", "scenario").distinct()
        whole = anyrule.agg(F.count("*"), F.sum(F.col("is_fraud").cast("int")),
                            F.sum("amount_eur"),
                            F.sum(F.when(F.col("is_fraud"), F.col("amount_eur")))).collect()[0]
        overall = score(OVERALL, int(whole[0]), int(whole[1] or 0), whole[2] or Decimal(0),
                        whole[3] or Decimal(0), frauds, days)
        caught = {row[0]: int(row[1]) for row in anyrule.where("is_fraud").groupBy(
            "scenario").count().collect()}
        scenarios = [ScenarioScore(row[0], int(row[1]), caught.get(row[0], 0),
                                   ratio(caught.get(row[0], 0), int(row[1])))
                     for row in truth.where("is_fraud AND scenario IS NOT NULL").groupBy(
                         "scenario").count().orderBy("scenario").collect()]
        daily = [(row[0], row[1], int(row[2])) for row in alerts.groupBy(
            "event_date", "rule_id").count().orderBy("event_date", "rule_id").collect()]
        decisions = []
        if flagged is not None:
            decisions = [_scored(flagged, FLAGGED, frauds, days),
                         _scored(flagged.where(F.col("decision") == "block"), BLOCKED, frauds,
                                 days)]
            hits = {row[0]: int(row[1]) for row in flagged.where("is_fraud").groupBy(
                "scenario").count().collect()}
            scenarios = [replace(s, flagged=hits.get(s.scenario, 0),
                                 flagged_recall=ratio(hits.get(s.scenario, 0), s.frauds))
                         for s in scenarios]
        return BacktestReport(first, last, payments, frauds, fraud_eur, scores, overall,
                              scenarios, daily, decisions)
    finally:
        for frame in (flagged, alerts, raised, truth):
            if frame is not None:
                frame.unpersist()


def any_behavioural(rules: dict[str, Rule]) -> bool:
    """Whether an enabled rule reads the behavioural features (pure)."""
    return any(rule.enabled for rule_id, rule in rules.items() if rule_id in BEHAVIOUR_RULES)


def alert_ids(spark: SparkSession, settings: Settings, rules: dict[str, Rule], first: date,
              last: date) -> set[str]:
    """The alert ids a rule set raises over the range (for shadow-mode comparisons)."""
    return {row[0] for row in batch_alerts(spark, settings, first, last, rules)
            .select("alert_id").collect()}


def with_param(rules: dict[str, Rule], target: str, value: str) -> dict[str, Rule]:
    """The rules with one `rule.param` set to `value`, typed like the parameter it replaces
    (an integer stays an integer, a decimal string a string) (pure)."""
    rule_id, _, param = target.partition(".")
    if rule_id not in rules or not param:
        raise PaystreamError(f"{target}: name a rule of the rules file and one of its "
                             f"parameters, e.g. high_amount.threshold_eur")
    if param not in rules[rule_id].params:
        raise PaystreamError(f"{target}: rule {rule_id} has no parameter {param} "
                             f"(it has {', '.join(sorted(rules[rule_id].params))})")
    current = rules[rule_id].params[param]
    try:
        typed: Any = type(current)(value) if isinstance(current, (int, float)) else value
    except ValueError as error:
        raise PaystreamError(f"{target}: {value!r} is not a {type(current).__name__}"
                             ) from error
    changed = replace(rules[rule_id], params={**rules[rule_id].params, param: typed})
    return {**rules, rule_id: changed}


def parse_sweep(text: str) -> tuple[str, list[str]]:
    """`rule.param=v1,v2` into the target and its values, as written (pure)."""
    target, sep, values = text.partition("=")
    if not sep or not values.strip():
        raise PaystreamError(f"{text!r}: write rule.param=v1,v2,...")
    return target.strip(), [v.strip() for v in values.split(",") if v.strip()]
