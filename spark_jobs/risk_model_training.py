"""gold.risk_models: train the learned risk model, validate it out of time, and promote it.

train_model, as the `risk_model_training` DAG and `paystream model train` run it:

1. Periods: the model learns from the payments of [train_from, train_to] and is validated on
   the later [valid_from, valid_to]. Only the labels known at `known_at` count (labelled_at at
   or before it; default: the end of the validation period's last day): a payment without a
   fraud label known by then is a negative, as it would be for a model trained that day.
   Default periods leave the newest MATURITY_DAYS days out, whose labels are mostly still to
   come, then take VALID_DAYS for validation and up to TRAIN_DAYS before them for training.
2. Rows: the batch decision step's inputs (spark_jobs.risk_decisions.decision_inputs: the
   behavioural features as the stream computes them, and the rules that fired), read as
   spark_jobs.risk_model.MODEL_FEATURES.
3. Model: an MLlib pipeline (VectorAssembler, GBTClassifier with GBT_PARAMS; frauds weighted
   FRAUD_WEIGHT times), saved under the lake's `_models/risk/v<version>`.
4. Threshold: on the validation period, the model threshold whose decisions (the rules'
   score plus the model's part, spark_jobs.risk_model) have the best F1 (best_threshold);
   the model's own area under the precision-recall curve beside it.
5. Registered as a `challenger` row of gold.risk_models, with its figures and importances.

promote_if_better then backtests the decisions (spark_jobs.backtest, rules plus model) on the
validation period twice, with the live champion (or the rules alone) and with the challenger,
truth as known at `known_at`; the challenger becomes the champion only when its review+block
F1 is higher (the old champion is `retired`), else it is `rejected`
(spark_jobs.risk_model_registry writes the table).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from lakehouse.catalog import Catalog
from lakehouse.errors import PaystreamError
from lakehouse.risk import RiskConfig, load_risk, score_column
from lakehouse.rules import load_rules
from lakehouse.settings import Settings
from spark_jobs import gold_labels
from spark_jobs.risk_model import (
    CHALLENGER,
    CHAMPION,
    MODEL_FEATURES,
    MODEL_NAME,
    PREDICTION,
    PROBABILITY,
    RAW,
    REJECTED,
    VECTOR,
    feature_column,
    kept_parts,
    load_model,
    registry_rows,
    with_model_features,
)
from spark_jobs.risk_model_registry import (
    next_version,
    percent,
    row_values,
    with_status,
    write_registry,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MATURITY_DAYS, VALID_DAYS, TRAIN_DAYS = 14, 7, 30
"""The default periods (module docstring)."""
MIN_TRAIN_FRAUDS = 20
"""Fewer known frauds in the training period than this, and no model is trained."""
TREES, DEPTH, STEP, SUBSAMPLE, MIN_LEAF, SEED = 60, 5, 0.1, 0.8, 5, 7
"""The classifier's settings: trees, their depth, the learning rate, the share of rows each
tree sees, the fewest rows in a leaf, the random seed (chosen on the tuning seeds; README)."""
FRAUD_WEIGHT = 5.0
"""How much a known fraud weighs in training against a payment not known as fraud."""


class TooLittleHistory(PaystreamError):
    """Silver or its known frauds are too few to train a model on yet."""


@dataclass(frozen=True)
class Periods:
    """The training and validation periods and when the labels are read as of."""

    train_from: date
    train_to: date
    valid_from: date
    valid_to: date
    known_at: datetime

    def check(self) -> None:
        """Fail in one line unless training ends before validation begins (pure)."""
        if not self.train_from <= self.train_to < self.valid_from <= self.valid_to:
            raise PaystreamError(
                f"the training period {self.train_from} .. {self.train_to} must end before "
                f"the validation period {self.valid_from} .. {self.valid_to} begins")


@dataclass(frozen=True)
class Threshold:
    """A probability threshold and the precision and recall of scores at or above it."""

    value: float
    precision: float
    recall: float


def default_periods(first: date, last: date, known_at: datetime | None = None,
                    maturity_days: int = MATURITY_DAYS, valid_days: int = VALID_DAYS,
                    train_days: int = TRAIN_DAYS) -> Periods:
    """The module docstring's periods within silver's [first, last]; labels as known at
    `known_at` (default: the end of `last`) (pure)."""
    valid_to = last - timedelta(days=maturity_days)
    valid_from = valid_to - timedelta(days=valid_days - 1)
    train_to = valid_from - timedelta(days=1)
    train_from = max(first, train_to - timedelta(days=train_days - 1))
    if train_to < first:
        raise TooLittleHistory(
            f"silver holds {first} .. {last}: too short for {maturity_days} days of label "
            f"maturity, {valid_days} of validation and training before them")
    at = known_at or datetime.combine(last + timedelta(days=1), time(), UTC)
    return Periods(train_from, train_to, valid_from, valid_to, at)


def best_threshold(scored: Iterable[tuple[float, bool, float]], risk: RiskConfig,
                   candidates: int = 400) -> Threshold:
    """The model threshold whose decisions have the best F1 against the labels: each row is
    (the model's probability, known fraud, the score of the parts the model does not replace),
    a row is flagged when that score plus the model's part (spark_jobs.risk_model.model_part)
    reaches the review band;
    thresholds tried at up to `candidates` quantiles of the probabilities (ties: the higher
    threshold) (pure)."""
    import numpy as np

    rows = list(scored)
    probability = np.array([r[0] for r in rows], dtype=float)
    fraud = np.array([r[1] for r in rows], dtype=bool)
    rules = np.array([r[2] for r in rows], dtype=float)
    frauds = int(fraud.sum())
    if not frauds:
        raise PaystreamError("the validation period holds no known fraud: no threshold")
    positive = probability[probability > 0]
    tried = (np.unique(np.quantile(positive, np.linspace(0, 1, candidates), method="lower"))
             if positive.size else np.array([1.0]))
    best, best_f1 = Threshold(1.0, 0.0, 0.0), -1.0
    for value in sorted(tried, reverse=True):
        part = np.minimum(risk.model_weight,
                          probability * risk.model_weight * risk.review / value)
        flagged = np.round(np.minimum(1.0, rules + np.round(part, 4)), 4) >= risk.review
        caught = int((flagged & fraud).sum())
        if not caught:
            continue
        precision, recall = caught / int(flagged.sum()), caught / frauds
        score = 2 * precision * recall / (precision + recall)
        if score > best_f1:
            best_f1, best = score, Threshold(float(value), precision, recall)
    return best


def f1(precision: float | None, recall: float | None) -> float:
    """The harmonic mean of precision and recall, 0 when either is missing or 0 (pure)."""
    if not precision or not recall:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def labelled_rows(spark: SparkSession, settings: Settings, first: date, last: date,
                  known_at: datetime) -> DataFrame:
    """The decision step's inputs for silver dates [first, last] with MODEL_FEATURES columns,
    `is_fraud` (a fraud label known at `known_at`) and `weight`."""
    from pyspark.sql import functions as F

    from spark_jobs.gold_batch import batch_alerts, featured_payments
    from spark_jobs.risk_decisions import decision_inputs

    rules, risk = load_rules(settings.rules_file), load_risk(settings.rules_file)
    featured = featured_payments(spark, settings, first, last, rules).localCheckpoint()
    alerts = batch_alerts(spark, settings, first, last, rules, featured)
    inputs = with_model_features(decision_inputs(featured, alerts, rules, risk)).withColumn(
        "kept_score", score_column(kept_parts(risk)))
    known = (gold_labels.read_labels(spark, settings)
             .where((F.col("label") == "fraud") & (F.col("labelled_at") <= F.lit(known_at)))
             .select("transaction_id", F.lit(True).alias("is_fraud")))
    fraud = F.coalesce(F.col("is_fraud"), F.lit(False))
    return (inputs.join(known, "transaction_id", "left")
            .withColumn("is_fraud", fraud)
            .withColumn("label", fraud.cast("double"))
            .withColumn("weight", F.when(fraud, F.lit(FRAUD_WEIGHT)).otherwise(F.lit(1.0)))
            .select("transaction_id", "event_date", "is_fraud", "label", "weight", "kept_score",
                    *(feature_column(name) for name in MODEL_FEATURES)))


def fit(rows: DataFrame, trees: int = TREES) -> Any:
    """An MLlib PipelineModel (VectorAssembler, GBTClassifier of `trees` trees) fitted on
    labelled rows."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import GBTClassifier
    from pyspark.ml.feature import VectorAssembler

    assembler = VectorAssembler(inputCols=[feature_column(n) for n in MODEL_FEATURES],
                                outputCol=VECTOR)
    classifier = GBTClassifier(
        featuresCol=VECTOR, labelCol="label", weightCol="weight", predictionCol=PREDICTION,
        maxIter=trees, maxDepth=DEPTH, stepSize=STEP, subsamplingRate=SUBSAMPLE,
        minInstancesPerNode=MIN_LEAF, seed=SEED)
    classifier.setRawPredictionCol(RAW).setProbabilityCol(PROBABILITY)
    return Pipeline(stages=[assembler, classifier]).fit(rows)


def validation_figures(model: Any, rows: DataFrame,
                       risk: RiskConfig) -> tuple[Threshold, float, int, int]:
    """On validation rows: the best threshold for the decisions, the model's area under the
    precision-recall curve, payments and known frauds."""
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    scored = model.transform(rows).select(
        "is_fraud", "label", RAW, "kept_score",
        F.round(vector_to_array(F.col(PROBABILITY)).getItem(1), 4).alias("p")).persist()
    try:
        triples = [(float(r["p"]), bool(r["is_fraud"]), float(r["kept_score"]))
                   for r in scored.select("p", "is_fraud", "kept_score").collect()]
        auc_pr = BinaryClassificationEvaluator(rawPredictionCol=RAW, labelCol="label",
                                               metricName="areaUnderPR").evaluate(scored)
    finally:
        scored.unpersist()
    frauds = sum(1 for _, fraud, _ in triples if fraud)
    return best_threshold(triples, risk), float(auc_pr), len(triples), frauds


def importances(model: Any, top: int = 10) -> list[tuple[str, float]]:
    """The classifier's `top` feature importances, largest first, to 4 places."""
    values = model.stages[-1].featureImportances.toArray()
    ranked = sorted(zip(MODEL_FEATURES, values, strict=True), key=lambda p: (-p[1], p[0]))
    return [(name, round(float(v), 4)) for name, v in ranked[:top] if v > 0]


@dataclass(frozen=True)
class Trained:
    """A trained, registered challenger and what its validation found."""

    version: int
    periods: Periods
    threshold: Threshold
    auc_pr: float
    train_payments: int
    train_frauds: int
    valid_payments: int
    valid_frauds: int
    importances: list[tuple[str, float]]
    seconds: float


def train_model(spark: SparkSession, settings: Settings, periods: Periods,
                say: Callable[[str], None] = lambda _: None, trees: int = TREES) -> Trained:
    """Train, validate and register a challenger of `trees` trees over `periods` (module
    docstring)."""
    import time as clock

    from pyspark.sql import functions as F

    periods.check()
    began = clock.monotonic()
    say(f"features of {periods.train_from} .. {periods.valid_to}, labels known at "
        f"{periods.known_at.isoformat(timespec='minutes')}")
    rows = labelled_rows(spark, settings, periods.train_from, periods.valid_to,
                         periods.known_at).persist()
    try:
        train = rows.where(F.col("event_date") <= F.lit(periods.train_to))
        valid = rows.where(F.col("event_date") >= F.lit(periods.valid_from))
        counts = train.agg(F.count("*"), F.sum(F.col("is_fraud").cast("int"))).collect()[0]
        train_payments, train_frauds = int(counts[0]), int(counts[1] or 0)
        if train_frauds < MIN_TRAIN_FRAUDS:
            raise TooLittleHistory(
                f"{train_frauds} frauds known at {periods.known_at:%Y-%m-%d %H:%M} in "
                f"{periods.train_from} .. {periods.train_to}: a model needs "
                f"{MIN_TRAIN_FRAUDS}; load labels (`paystream label`) or widen the period")
        say(f"training on {train_payments:,} payments ({train_frauds:,} known frauds)")
        model = fit(train, trees)
        threshold, auc_pr, valid_payments, valid_frauds = validation_figures(
            model, valid, load_risk(settings.rules_file))
    finally:
        rows.unpersist()
    registry = [row_values(r) for r in registry_rows(spark, settings)]
    version = next_version(registry)
    path = Catalog(settings.lake_location).model(MODEL_NAME, version)
    model.write().overwrite().save(path)
    ranked = importances(model)
    registry.append({
        "version": version, "status": CHALLENGER, "trained_at": datetime.now(UTC),
        "labels_known_at": periods.known_at, "train_from": periods.train_from,
        "train_to": periods.train_to, "valid_from": periods.valid_from,
        "valid_to": periods.valid_to, "train_payments": train_payments,
        "train_frauds": train_frauds, "valid_payments": valid_payments,
        "valid_frauds": valid_frauds, "threshold": threshold.value, "valid_auc_pr": auc_pr,
        "valid_precision": threshold.precision, "valid_recall": threshold.recall,
        "importances": ranked, "path": path, "note": "trained"})
    write_registry(spark, settings, registry)
    return Trained(version, periods, threshold, auc_pr, train_payments, train_frauds,
                   valid_payments, valid_frauds, ranked, clock.monotonic() - began)


@dataclass(frozen=True)
class Verdict:
    """What the comparison on the validation period found, and the challenger's new status."""

    version: int
    status: str
    challenger: tuple[float | None, float | None]
    champion: tuple[float | None, float | None]
    champion_version: int | None
    text: str


def promote_if_better(spark: SparkSession, settings: Settings, version: int,
                      say: Callable[[str], None] = lambda _: None,
                      force: bool = False) -> Verdict:
    """Backtest the decisions on the challenger's validation period with the champion (or the
    rules alone) and with it; promote it when its review+block F1 is higher. `force`: promote
    it without the comparison (by hand)."""
    from spark_jobs import backtest, backtest_report

    registry = [row_values(r) for r in registry_rows(spark, settings)]
    row = next((r for r in registry if int(r["version"]) == version), None)
    if row is None:
        raise PaystreamError(f"risk model version {version} is not registered")
    champion = next((r for r in registry if r["status"] == CHAMPION), None)
    before = int(champion["version"]) if champion else None
    if force:
        write_registry(spark, settings, with_status(
            registry, version, CHAMPION, datetime.now(UTC), "promoted by hand, not compared"))
        return Verdict(version, CHAMPION, (None, None), (None, None), before,
                       "promoted by hand: no comparison was run")
    rules, risk = load_rules(settings.rules_file), load_risk(settings.rules_file)
    first, last, known_at = row["valid_from"], row["valid_to"], row["labels_known_at"]
    if known_at.tzinfo is None:
        known_at = known_at.replace(tzinfo=UTC)
    label = f"version {before}" if champion else "the rules alone"
    say(f"backtesting {first} .. {last} with {label}")
    base = backtest.run_backtest(spark, settings, rules, first, last, risk,
                                 model=load_model(spark, settings, before) if before else None,
                                 known_at=known_at)
    say(f"backtesting {first} .. {last} with version {version}")
    candidate = backtest.run_backtest(spark, settings, rules, first, last, risk,
                                      model=load_model(spark, settings, version),
                                      known_at=known_at)
    old = next(d for d in base.decisions if d.rule_id == backtest.FLAGGED)
    new = next(d for d in candidate.decisions if d.rule_id == backtest.FLAGGED)
    status = CHAMPION if f1(new.precision, new.recall) > f1(old.precision, old.recall) \
        else REJECTED
    note = (f"review+block F1 {f1(new.precision, new.recall):.3f} against "
            f"{f1(old.precision, old.recall):.3f} with {label}")
    write_registry(spark, settings, with_status(
        registry, version, status, datetime.now(UTC), note,
        compared_precision=new.precision, compared_recall=new.recall,
        champion_precision=old.precision, champion_recall=old.recall))
    text = backtest_report.format_comparison(base, candidate, None, None)
    return Verdict(version, status, (new.precision, new.recall), (old.precision, old.recall),
                   before, text)


def describe(trained: Trained) -> str:
    """A few lines on a trained challenger (pure)."""
    p, t = trained.periods, trained.threshold
    top = ", ".join(f"{name} {value:.2f}" for name, value in trained.importances[:5])
    rate = trained.train_frauds / trained.train_payments if trained.train_payments else math.nan
    return "\n".join([
        f"risk model version {trained.version} trained in {trained.seconds:.0f} s",
        f"  training   {p.train_from} .. {p.train_to}: {trained.train_payments:,} payments, "
        f"{trained.train_frauds:,} frauds known ({rate:.2%})",
        f"  validation {p.valid_from} .. {p.valid_to}: {trained.valid_payments:,} payments, "
        f"{trained.valid_frauds:,} frauds known; threshold {t.value:.4f}: precision "
        f"{t.precision:.1%}, recall {t.recall:.1%}; PR AUC {trained.auc_pr:.3f}",
        f"  labels as known at {p.known_at.isoformat(timespec='minutes')}",
        f"  most important: {top}"])


def requested_periods(spark: SparkSession, settings: Settings, train_from: date | None,
                      train_to: date | None, valid_from: date | None, valid_to: date | None,
                      known_at: datetime | None) -> Periods:
    """The periods a command asks for, each end not given from default_periods over silver."""
    from spark_jobs.backtest import silver_range

    first, last = silver_range(spark, settings)
    if None in (train_from, train_to, valid_from, valid_to):
        base = default_periods(first, last, known_at)
    else:
        base = Periods(first, first, last, last,
                       known_at or datetime.combine(last + timedelta(days=1), time(), UTC))
    periods = Periods(train_from or base.train_from, train_to or base.train_to,
                      valid_from or base.valid_from, valid_to or base.valid_to, base.known_at)
    periods.check()
    return periods


def format_verdict(verdict: Verdict) -> str:
    """What the comparison found, in two lines and the side-by-side table (pure)."""
    before = (f"version {verdict.champion_version}" if verdict.champion_version
              else "the rules alone")
    new, old = verdict.challenger, verdict.champion
    return "\n".join([
        f"review+block on the validation period: precision {percent(new[0])}, recall "
        f"{percent(new[1])} with version {verdict.version}; {percent(old[0])}, "
        f"{percent(old[1])} with {before}",
        f"version {verdict.version} is now {verdict.status}", "", verdict.text])


def run_scheduled(spark: SparkSession, settings: Settings, now: datetime | None = None,
                  say: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """What the `risk_model_training` DAG runs: train a challenger on the default periods with
    the labels known now, and promote it when it beats the champion. A lake too young to
    train on (periods, known frauds) is told, not failed: {"trained": False, "reason": ...}."""
    from spark_jobs.backtest import silver_range

    at = now or datetime.now(UTC)
    try:
        first, last = silver_range(spark, settings)
        periods = default_periods(first, min(last, at.date()), at)
        trained = train_model(spark, settings, periods, say)
    except TooLittleHistory as error:
        return {"trained": False, "reason": str(error)}
    verdict = promote_if_better(spark, settings, trained.version, say)
    return {"trained": True, "version": trained.version, "status": verdict.status,
            "threshold": trained.threshold.value, "seconds": round(trained.seconds, 1),
            "validation": {"precision": trained.threshold.precision,
                           "recall": trained.threshold.recall, "auc_pr": trained.auc_pr},
            "compared": {"challenger": verdict.challenger, "before": verdict.champion}}

