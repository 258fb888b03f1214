"""The learned risk model in the decision step: one scoring function for the stream and the batch.

A gradient-boosted classifier (Spark MLlib, trained by spark_jobs.risk_model_training) reads
MODEL_FEATURES: the payment's amount and the behavioural features every decision already
carries (lakehouse.behaviour: user spending windows, terminal risk from known labels, amount
ratios, the gap since the user's previous payment) and which rules fired. with_model_features
builds them from a decision's columns; score_decisions applies the champion's MLlib pipeline
to them and then:

- `model_score` is the model's fraud probability, to 4 places;
- the decision gains a contribution named `model`: `risk.model_weight` times the review band
  at the model's validation threshold, linear in the probability and capped at the weight
  (so with weight 1 a payment the model alone flags reaches review). It stands in for the
  behavioural parts (`risk.model_replaces`: by default amount_vs_profile, risky_terminal and
  the two graded features), whose features and hits the model reads; the score is the other
  parts plus the model's, capped at 1, and the band follows from it as before;
- `model_reasons` are the features that raised the model's margin most (ModelReasons.java,
  the path attribution of each tree), so the model's part is explained like the rules'.

The stream (spark_jobs.stateful_alerts, on the Java processor's decision rows) and the batch
(spark_jobs.risk_decisions: backfill, backtest, training's validation) both call
score_decisions; a test holds them equal. The live model is the newest champion of
gold.risk_models; without one the decisions are the rules' alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from lakehouse.catalog import Catalog
from lakehouse.risk import TOP_CONTRIBUTIONS, RiskConfig
from lakehouse.rules import RULE_MODULES
from lakehouse.settings import Settings
from lakehouse.stores import delta
from lakehouse.tables import GOLD_RISK_MODELS

if TYPE_CHECKING:
    from pyspark.ml import PipelineModel
    from pyspark.sql import Column, DataFrame, SparkSession

MODEL_NAME = "risk"
CHAMPION, CHALLENGER, RETIRED, REJECTED = "champion", "challenger", "retired", "rejected"
MISSING = -1.0
"""What a feature without a value (no history, no known fraud) reads as: below any real value."""
RATIO_FEATURES = {
    "amount_over_max_30d": ("amount_eur", "user_max_eur_30d"),
    "amount_over_mean_7d": ("amount_eur", "user_mean_eur_7d"),
    "amount_over_mean_30d": ("amount_eur", "user_mean_eur_30d"),
    "amount_over_baseline": ("amount_eur", "user_baseline_eur"),
    "mean_1d_over_baseline": ("user_mean_eur_1d", "user_baseline_eur"),
    "max_1d_over_baseline": ("user_max_eur_1d", "user_baseline_eur"),
    "mean_7d_over_baseline": ("user_mean_eur_7d", "user_baseline_eur"),
}
"""Ratios of the amount, and of the user's newest days, to the user's own windows and
baseline (days 8 to 30: a spree of the last days does not raise it), to 4 places."""
PLAIN_FEATURES = (
    "amount_eur", "amount_vs_profile_ratio",
    "user_payments_1d", "user_payments_7d", "user_payments_30d", "user_mean_eur_30d",
    "user_max_eur_30d", "user_expected_eur", "seconds_since_previous", "category_factor",
    "merchant_payments_1d", "merchant_payments_7d", "merchant_payments_30d",
    "terminal_frauds", "terminal_fraud_rate", "terminal_days_since_fraud",
    "terminal_label_lag_days",
)
"""Columns every decision row has (the batch's featured payments; the stream's details)."""
FIRED_FEATURES = tuple(f"fired_{rule_id}" for rule_id in sorted(RULE_MODULES))
"""1.0 when the rule fired on the payment, else 0.0."""
MODEL_FEATURES = (*PLAIN_FEATURES, *RATIO_FEATURES, *FIRED_FEATURES)
"""What the model reads, in vector order (a model stores the list it was trained on)."""
VECTOR, RAW, PROBABILITY, PREDICTION = ("model_vector", "model_raw", "model_probability",
                                        "model_prediction")
"""The columns the MLlib pipeline adds (dropped after scoring)."""


@dataclass(frozen=True)
class LiveModel:
    """A registered model ready to score: its version, its validation threshold and pipeline."""

    version: int
    threshold: float
    pipeline: PipelineModel
    train_from: date | None = None
    train_to: date | None = None


def feature_column(name: str) -> str:
    """The double column a model feature is read from: `x_<name>` (pure)."""
    return f"x_{name}"


def with_model_features(rows: DataFrame) -> DataFrame:
    """Decision rows (amount_eur, the behavioural features, `fired` array<string>,
    amount_vs_profile_ratio) with one double column per MODEL_FEATURES (feature_column), a
    missing value read as MISSING."""
    from pyspark.sql import functions as F

    def number(value: Column, places: int = 4) -> Column:
        return F.coalesce(F.round(value.cast("double"), places), F.lit(MISSING))

    columns = {feature_column(name): number(F.col(name)) for name in PLAIN_FEATURES}
    for name, (part, whole) in RATIO_FEATURES.items():
        columns[feature_column(name)] = number(
            F.col(part).cast("double") / F.nullif(F.col(whole).cast("double"), F.lit(0.0)))
    for name, rule_id in zip(FIRED_FEATURES, sorted(RULE_MODULES), strict=True):
        columns[feature_column(name)] = F.coalesce(
            F.array_contains("fired", rule_id).cast("double"), F.lit(0.0))
    return rows.withColumns(columns)


def explainer(spark: SparkSession, model: LiveModel) -> Any:
    """The JVM ModelReasons of the model's gradient-boosted stage."""
    jvm: Any = spark._jvm
    names = spark.sparkContext._gateway.new_array(jvm.String, len(MODEL_FEATURES))  # type: ignore[union-attr]
    for i, name in enumerate(MODEL_FEATURES):
        names[i] = name
    classifier: Any = model.pipeline.stages[-1]
    return jvm.paystream.ModelReasons.of(classifier._java_obj, names)


def model_part(risk: RiskConfig, threshold: float, probability: Column) -> Column:
    """The `model` contribution: model_weight x review band at `threshold`, linear in the
    probability, capped at model_weight (unrounded)."""
    from pyspark.sql import functions as F

    return F.least(F.lit(risk.model_weight),
                   probability * F.lit(risk.model_weight * risk.review / threshold))


def kept_parts(risk: RiskConfig) -> Column:
    """The contributions (unrounded, largest first) of the parts of the rules' score the
    model does not replace (risk.model_replaces), from a decision's fired rules, amount ratio
    and terminal fraud rate."""
    from pyspark.sql import functions as F

    from lakehouse.risk import contributions_column

    return contributions_column(risk.without_replaced(), F.col("fired"),
                                F.col("amount_vs_profile_ratio"),
                                F.col("terminal_fraud_rate").cast("double"))


def score_decisions(rows: DataFrame, model: LiveModel, risk: RiskConfig) -> DataFrame:
    """Decision rows (fired array<string>, amount_vs_profile_ratio and with_model_features'
    inputs) scored by the model: model_version, model_score, model_reasons, and risk_score,
    decision and contributions from the parts the model does not replace plus its own
    (module docstring)."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F
    from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame

    from lakehouse.risk import (
        decision_column,
        largest_first,
        rounded_contributions,
        score_column,
    )

    spark = rows.sparkSession
    featured = with_model_features(rows)
    scored = model.pipeline.transform(featured)
    reasons = ClassicDataFrame(explainer(spark, model).withReasons(
        scored._jdf, VECTOR, TOP_CONTRIBUTIONS, "model_reasons"), spark)
    probability = F.round(vector_to_array(F.col(PROBABILITY)).getItem(1), 4)
    part = F.round(model_part(risk, model.threshold, F.col("model_score")), 4)
    named = F.struct(F.lit("model").alias("name"), part.alias("value"))
    kept = kept_parts(risk)
    merged = F.filter(F.array_append(rounded_contributions(kept), named),
                      lambda p: p["value"] > 0)
    ordered = largest_first(merged)
    out = (reasons.withColumn("model_score", probability)
           .withColumn("model_version", F.lit(model.version))
           .withColumn("risk_score",
                       F.round(F.least(F.lit(1.0), score_column(kept) + part), 4))
           .withColumn("contributions", F.slice(ordered, 1, TOP_CONTRIBUTIONS)))
    out = out.withColumn("decision", decision_column(risk, F.col("risk_score")))
    return out.drop(VECTOR, RAW, PROBABILITY, PREDICTION,
                    *(feature_column(name) for name in MODEL_FEATURES))


# ---- the registry: which model is live ----------------------------------------------------


def registry_rows(spark: SparkSession, settings: Settings) -> list[Any]:
    """Every row of gold.risk_models, newest version first (none while it does not exist)."""
    path = Catalog(settings.lake_location).table(GOLD_RISK_MODELS)
    if not delta.delta_exists(spark, path):
        return []
    return sorted(delta.read_delta(spark, path).collect(), key=lambda r: -int(r["version"]))


def champion_version(spark: SparkSession, settings: Settings) -> int | None:
    """The version of the live model (the newest champion), None without one."""
    return next((int(r["version"]) for r in registry_rows(spark, settings)
                 if r["status"] == CHAMPION), None)


def load_model(spark: SparkSession, settings: Settings, version: int) -> LiveModel:
    """A registered version, loaded from its folder in the lake."""
    from pyspark.ml import PipelineModel

    from lakehouse.errors import PaystreamError

    row = next((r for r in registry_rows(spark, settings) if int(r["version"]) == version),
               None)
    if row is None:
        raise PaystreamError(f"risk model version {version} is not in {GOLD_RISK_MODELS}: "
                             "`paystream model list` shows the versions")
    return LiveModel(version, float(row["threshold"]), PipelineModel.load(row["path"]),
                     row["train_from"], row["train_to"])


def live_model(spark: SparkSession, settings: Settings) -> LiveModel | None:
    """The champion, loaded; None while no model was promoted."""
    version = champion_version(spark, settings)
    return None if version is None else load_model(spark, settings, version)
