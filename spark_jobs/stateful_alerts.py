"""Stateful alerts: the rules that need history, on keyed state in RocksDB, off the lake's path.

One micro-batch query (0-second trigger): Kafka `transactions` -> the same
contract check and typing as silver (Spark SQL) -> two chained transformWithState
stages written in Java (spark_jobs/jvm, compiled by lakehouse.jvm_build) -> Kafka
`alerts` (and `decisions`); the alert sinks carry them on.

- The user stage (UserStage.java) is keyed by Kafka partition bucket, so it sees all of a
  user's payments in order and judges lateness per partition exactly as silver does; inside,
  state is keyed by user_id: velocity, card_testing, impossible_travel, the user profile and
  amount_vs_profile. It forwards each payment with its user features and fired rules.
- The merchant stage (MerchantStage.java) is keyed by merchant bucket; inside, state is keyed
  by merchant_id: compromised_merchant, the terminal profile from the fraud labels on Kafka
  `labels` (gold_labels publishes them), risky_terminal, and one risk decision per new payment
  (lakehouse.risk: score, approve / review / block, top contributions) to Kafka `decisions`.

Each stage runs as many tasks as pipeline.stateful_partitions (default: the `transactions`
partition count), on local cores and cluster workers alike; the user stage's parallelism is
capped by the Kafka partitions, the merchant stage's by the setting. Why Java: a Python
processor pays a socket round trip per state call and a Python worker per batch; measured
here, that kept the stateful alerts tens of seconds behind at 1,000 events/s. What the state
keeps, and how a late payment re-judges later ones, is told in KeyedRules.java; tests hold
the alerts and decisions equal to the batch rules (lakehouse.rules, lakehouse.behaviour).
The category factors are read from gold.category_factors (lakehouse.reference_stats) when the
query starts, as the backfill and the backtest read them; the running pipeline restarts this
query when the table gets a new version (spark_jobs.pipeline, pipeline.factors_poll_s). So is
the live risk model (the champion of gold.risk_models): when there is one, the decision rows
leave the processor into spark_jobs.risk_model.score_decisions, the same function the batch
decisions call, in the same query (MLlib's pipeline and ModelReasons.java run in the JVM).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse import rules_watch
from lakehouse.catalog import Catalog
from lakehouse.errors import PaystreamError
from lakehouse.fx import eur_per_unit, fx_table
from lakehouse.reference_stats import factor_text, load_category_factors
from lakehouse.risk import RiskConfig, load_risk
from lakehouse.rules import (
    BEHAVIOUR_RULES,
    MERCHANT_RULES,
    USER_RULES,
    Rule,
    elevated_ticket_eur,
    load_rules,
    lookback_seconds,
)
from lakehouse.settings import Settings
from lakehouse.stores import kafka
from spark_jobs.risk_model import LiveModel, live_model, score_decisions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

QUERY_NAME = "stateful"
CHECKPOINT = "stateful_stages"
"""Not `stateful`, `stateful_keyed` nor `stateful_behaviour` (earlier layouts: one key, one
task): a query cannot resume another's state layout, so a lake that has one starts this query
afresh beside it."""
KEYED_RULES = USER_RULES + MERCHANT_RULES + BEHAVIOUR_RULES
ALERT_SCHEMA = (
    "alert_id string, rule_id string, severity string, transaction_id string, user_id string, "
    "merchant_id string, amount_eur decimal(18,2), event_time timestamp, "
    "detected_at timestamp, details string, payment_kafka_time timestamp"
)
OUTPUT_SCHEMA = (ALERT_SCHEMA + ", kind string, risk_score double, decision string, "
                 "contributions string, fired string, amount_vs_profile_ratio double")
"""What the Java processor emits: alert rows (kind `alert`) and decision rows (kind
`decision`: details holds the features); event_date is added from event_time (UTC) here."""
INPUT_COLUMNS = ("source_partition", "source_offset", "transaction_id", "user_id", "card_id",
                 "amount_eur", "merchant_id", "merchant_category", "channel", "lat", "lon",
                 "city", "event_ms", "kafka_ms", "payload_sha256", "elevated", "kind", "label",
                 "labelled_ms")
"""What the processor reads of each valid payment and label (InputFields.java)."""
LABEL_MESSAGE_SCHEMA = ("transaction_id string, label string, merchant_id string, "
                        "event_time timestamp, labelled_at timestamp")
"""A record on Kafka `labels` (spark_jobs.gold_labels.publish_labels writes them)."""


def behaviour_config(rules: dict[str, Rule], risk: RiskConfig,
                     factors: Mapping[str, float]) -> dict[str, Any]:
    """The processor's behaviour section: the terminal window, the baseline's skipped days,
    the category factors (MCC -> factor, as lakehouse.behaviour.with_features takes them), the
    profile's minimum history, the risk weights and bands, and the high_amount threshold."""
    from lakehouse.behaviour import BASELINE_SKIP_DAYS, TerminalWindow
    from spark_jobs.risk_decisions import min_profile_history

    window = TerminalWindow.of(rules)
    high = rules.get("high_amount")
    return {
        "window_days": window.window_days,
        "baseline_skip_days": BASELINE_SKIP_DAYS,
        "category_factors": {mcc: factor_text(f) for mcc, f in sorted(factors.items())},
        "min_history": min_profile_history(rules),
        "rule_weights": risk.rule_weights,
        "profile_weight": risk.feature_weights.get("amount_vs_profile_ratio", 0.0),
        "terminal_weight": risk.feature_weights.get("terminal_fraud_rate", 0.0),
        "full_ratio": risk.full_ratio, "full_rate": risk.full_rate,
        "review": risk.review, "block": risk.block,
        "high_amount_eur": str(high.param("threshold_eur")) if high and high.enabled else None,
    }


def processor_config(rules: dict[str, Rule], lateness_s: int,
                     risk: RiskConfig | None = None,
                     factors: Mapping[str, float] | None = None) -> str:
    """The JSON the Java processor reads: the keyed rules' parameters, how far back each
    family looks (lakehouse.rules.lookback_seconds), the lateness and, with `risk` (which
    needs the category `factors`), the behaviour section."""
    if risk is not None and factors is None:
        raise PaystreamError("the stateful behaviour needs the category factors "
                             "(lakehouse.reference_stats.load_category_factors)")

    def horizon_ms(family: tuple[str, ...]) -> int:
        return lookback_seconds({k: r for k, r in rules.items() if k in family}) * 1000

    return json.dumps({
        "lateness_ms": lateness_s * 1000,
        "user_rules": list(USER_RULES), "merchant_rules": list(MERCHANT_RULES),
        "user_horizon_ms": horizon_ms(USER_RULES),
        "merchant_horizon_ms": horizon_ms(MERCHANT_RULES),
        "rules": {rule_id: {"severity": rule.severity, "enabled": rule.enabled,
                            "params": {k: str(v) for k, v in rule.params.items()}}
                  for rule_id, rule in rules.items() if rule_id in KEYED_RULES},
        "behaviour": (behaviour_config(rules, risk, factors)
                      if risk is not None and factors is not None else None),
    })


def valid_payments(kafka_rows: DataFrame, rules: dict[str, Rule],
                   rates: Mapping[str, Decimal]) -> DataFrame:
    """Kafka `transactions` records as the processor's input rows, valid ones only (Spark SQL)."""
    from pyspark.sql import functions as F

    from spark_jobs import bronze_transactions_raw
    from spark_jobs.silver_transactions import check_contract, to_silver_rows

    checked = check_contract(bronze_transactions_raw.transform(kafka_rows), rates)
    tickets = F.create_map(*[
        item for mcc, eur in sorted(elevated_ticket_eur(rules["compromised_merchant"]).items())
        for item in (F.lit(mcc), F.lit(eur))])
    elevated = F.coalesce(
        F.col("amount_eur") >= F.try_element_at(tickets, F.col("merchant_category")),
        F.lit(False))
    return (to_silver_rows(checked.where(F.size("reasons") == 0), 0)
            .withColumn("event_ms", F.unix_millis("event_time"))
            .withColumn("kafka_ms", F.unix_millis("kafka_timestamp"))
            .withColumn("elevated", elevated)
            .withColumn("kind", F.lit("payment"))
            .withColumn("label", F.lit(None).cast("string"))
            .withColumn("labelled_ms", F.lit(None).cast("long"))
            .select(*INPUT_COLUMNS))


def label_rows(kafka_rows: DataFrame) -> DataFrame:
    """Kafka `labels` records as the processor's input rows (kind `label`)."""
    from pyspark.sql import functions as F

    m = F.from_json(F.col("value").cast("string"), LABEL_MESSAGE_SCHEMA).alias("m")
    parsed = kafka_rows.select(m).where(F.col("m.transaction_id").isNotNull())
    null = F.lit(None)
    return parsed.select(
        F.lit(-1).alias("source_partition"), F.lit(-1).cast("long").alias("source_offset"),
        F.col("m.transaction_id").alias("transaction_id"), null.cast("string").alias("user_id"),
        null.cast("string").alias("card_id"), null.cast("decimal(18,2)").alias("amount_eur"),
        F.col("m.merchant_id").alias("merchant_id"),
        null.cast("string").alias("merchant_category"), null.cast("string").alias("channel"),
        null.cast("double").alias("lat"), null.cast("double").alias("lon"),
        null.cast("string").alias("city"),
        F.unix_millis("m.event_time").alias("event_ms"), null.cast("long").alias("kafka_ms"),
        null.cast("string").alias("payload_sha256"), F.lit(False).alias("elevated"),
        F.lit("label").alias("kind"), F.col("m.label").alias("label"),
        F.unix_millis("m.labelled_at").alias("labelled_ms"))


def keyed_rows(kafka_rows: DataFrame, rules: dict[str, Rule], lateness_s: int,
               risk: RiskConfig | None = None, labels: DataFrame | None = None,
               partitions: int | None = None,
               rates: Mapping[str, Decimal] | None = None,
               factors: Mapping[str, float] | None = None) -> DataFrame:
    """Kafka `transactions` (and `labels`) records -> the stages' output rows (OUTPUT_SCHEMA
    plus event_date): alerts, and with `risk` one decision per new payment, its features
    scaled by the category `factors` (required with `risk`). Each stage is spread over
    `partitions` tasks (default: the session's spark.sql.shuffle.partitions); `rates`: the
    FX table (default the packaged one)."""
    from pyspark.sql import functions as F
    from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame

    payments = valid_payments(kafka_rows, rules, eur_per_unit() if rates is None else rates)
    if labels is not None:
        payments = payments.unionByName(label_rows(labels))
    spark = payments.sparkSession
    width = partitions or int(spark.conf.get("spark.sql.shuffle.partitions") or "200")
    jvm: Any = spark._jvm
    rows = jvm.paystream.StatefulAlerts.alerts(
        payments._jdf, processor_config(rules, lateness_s, risk, factors), OUTPUT_SCHEMA,
        width)
    return ClassicDataFrame(rows, spark).withColumn(
        "event_date", F.to_date("event_time"))


def transform(kafka_rows: DataFrame, rules: dict[str, Rule], lateness_s: int,
              risk: RiskConfig | None = None, labels: DataFrame | None = None) -> DataFrame:
    """Kafka `transactions` records -> alert rows of the keyed rules (the alert columns)."""
    return only_alerts(keyed_rows(kafka_rows, rules, lateness_s, risk, labels))


def only_alerts(rows: DataFrame) -> DataFrame:
    """The alert rows of the processor's output, in the alert columns."""
    from pyspark.sql import functions as F

    return rows.where(F.col("kind") == "alert").select(
        *[c.split()[0] for c in ALERT_SCHEMA.split(", ")], "event_date")


def scored_by_model(rows: DataFrame, model: LiveModel, risk: RiskConfig) -> DataFrame:
    """The processor's rows with the model in each decision (spark_jobs.risk_model): a
    decision's features are read from its details, its fired rules and contributions from
    their JSON, and written back as JSON; alert rows pass unchanged (one projection, so the
    stateful operator runs once)."""
    from pyspark.sql import functions as F

    from lakehouse.behaviour import FEATURE_COLUMNS

    contribution = "array<struct<name:string,value:double>>"
    features = F.from_json("details", "map<string,string>")
    decision = F.col("kind") == "decision"
    parsed = rows.withColumns({
        **{name: features.getItem(name) for name in FEATURE_COLUMNS},
        "fired_json": F.col("fired"),
        "contributions_json": F.col("contributions"),
        "rules_score": F.col("risk_score"), "rules_decision": F.col("decision"),
        "fired": F.coalesce(F.from_json("fired", "array<string>"),
                            F.array().cast("array<string>")),
        "contributions": F.from_json("contributions", contribution),
    })
    scored = score_decisions(parsed, model, risk)
    return scored.withColumns({
        "fired": F.col("fired_json"),
        "contributions": F.when(decision, F.to_json("contributions")).otherwise(
            F.col("contributions_json")),
        "risk_score": F.when(decision, F.col("risk_score")).otherwise(F.col("rules_score")),
        "decision": F.when(decision, F.col("decision")).otherwise(F.col("rules_decision")),
        "model_version": F.when(decision, F.col("model_version")),
        "model_score": F.when(decision, F.col("model_score")),
        "model_reasons": F.when(decision, F.to_json("model_reasons")),
    }).drop(*FEATURE_COLUMNS, "fired_json", "contributions_json", "rules_score",
            "rules_decision")


def to_topic_messages(rows: DataFrame) -> DataFrame:
    """Processor rows as Kafka records with their topic: alerts to `alerts` (the alert sinks'
    format, spark_jobs.alert_sink.to_kafka_messages), decisions to `decisions`; one
    projection, so the stateful operator runs once."""
    from pyspark.sql import functions as F

    version = [c for c in ("rules_version",) if c in rows.columns]
    model = ([F.col("model_version"), F.col("model_score"),
              F.from_json("model_reasons", "array<struct<name:string,value:double>>").alias(
                  "model_reasons")] if "model_version" in rows.columns else [])
    alert = F.to_json(F.struct(
        "alert_id", "rule_id", "severity", "transaction_id", "user_id", "merchant_id",
        F.col("amount_eur").cast("string").alias("amount_eur"), "event_time", "detected_at",
        F.from_json("details", "map<string,string>").alias("details"), "payment_kafka_time",
        *version))
    decision = F.to_json(F.struct(
        "transaction_id", "user_id", "merchant_id",
        F.col("amount_eur").cast("string").alias("amount_eur"), "event_time",
        F.col("detected_at").alias("decided_at"), "risk_score", "decision",
        F.from_json("contributions", "array<struct<name:string,value:double>>").alias(
            "contributions"),
        F.from_json("fired", "array<string>").alias("fired"),
        F.from_json("details", "map<string,string>").alias("features"), "payment_kafka_time",
        *version, *model))
    is_alert = F.col("kind") == "alert"
    band = F.array(F.struct(F.lit("decision").alias("key"),
                            F.col("decision").cast("binary").alias("value")))
    return rows.select(
        F.when(is_alert, F.lit("alerts")).otherwise(F.lit("decisions")).alias("topic"),
        F.col("user_id").cast("binary").alias("key"),
        F.when(is_alert, alert).otherwise(decision).cast("binary").alias("value"),
        # the band as a header too, so the decisions sink skips approvals unparsed
        F.when(is_alert, F.array().cast("array<struct<key:string,value:binary>>"))
        .otherwise(band).alias("headers"))


def checkpoint_width(checkpoint: Path) -> int | None:
    """The shuffle width a local checkpoint was started with (its newest offsets file's
    conf), or None when it has no batch yet."""
    offsets = checkpoint / "offsets"
    batches = sorted((int(f.name) for f in offsets.glob("[0-9]*") if f.name.isdigit()),
                     reverse=True) if offsets.is_dir() else []
    for batch in batches:
        try:
            lines = (offsets / str(batch)).read_text().splitlines()
        except OSError:  # removed by Spark's cleanup meanwhile
            continue
        conf = json.loads(lines[1]).get("conf", {}) if len(lines) > 1 else {}
        width = conf.get("spark.sql.shuffle.partitions")
        return int(width) if width else None
    return None


def stage_width(settings: Settings) -> int:
    """Tasks per stateful stage: pipeline.stateful_partitions, else the `transactions`
    partition count (the user stage cannot use more than it)."""
    from lakehouse.topics import topic_specs

    if settings.pipeline.stateful_partitions:
        return settings.pipeline.stateful_partitions
    return {spec.name: spec for spec in topic_specs(settings)}["transactions"].partitions


def check_width(settings: Settings, width: int) -> None:
    """Refuse a width other than the one the local checkpoint keeps (its state is bucketed by
    it): one line that says what to do."""
    if not settings.lake_is_local:
        return
    kept = checkpoint_width(Path(Catalog(settings.lake_location).checkpoint(CHECKPOINT)))
    if kept is not None and kept != width:
        raise PaystreamError(
            f"the stateful checkpoint was started with {kept} tasks per stage, not {width}: set "
            f"PAYSTREAM_PIPELINE__STATEFUL_PARTITIONS={kept}, or delete "
            f"{Catalog(settings.lake_location).checkpoint(CHECKPOINT)} to start it afresh")


def start(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
    """Start Kafka `transactions` -> user stage -> merchant stage -> Kafka `alerts`."""
    from pyspark.sql import functions as F

    from spark_jobs.alert_sink import alerts_topic_writer

    source = kafka.read_kafka_stream(spark, settings, "transactions",
                                     settings.pipeline.max_offsets_per_trigger)
    rules = load_rules(settings.rules_file)
    behaviour = settings.pipeline.risk_decisions or any(
        rules[r].enabled for r in BEHAVIOUR_RULES if r in rules)
    risk = load_risk(settings.rules_file) if behaviour else None
    labels = kafka.read_kafka_stream(spark, settings, "labels") if behaviour else None
    # Read once, when the query starts: the processor's config is fixed for its run.
    factors = load_category_factors(spark, settings).factors if behaviour else None
    model = live_model(spark, settings) if risk is not None else None
    width = stage_width(settings)
    check_width(settings, width)
    rows = keyed_rows(source, rules, settings.pipeline.allowed_lateness_s, risk, labels, width,
                      fx_table(settings.fx_rates_file), factors).withColumn(
        "rules_version", F.lit(rules_watch.rules_version(settings.rules_file)))
    if model is not None and risk is not None:
        rows = scored_by_model(rows, model, risk)
    writer = alerts_topic_writer(to_topic_messages(rows), settings, QUERY_NAME, CHECKPOINT,
                                 topic=None)
    trigger = {"availableNow": True} if available_now else {"processingTime": "0 seconds"}
    # The stages' shuffles take the session's width when the query first starts; after that
    # the checkpoint keeps it (check_width refuses another).
    previous = spark.conf.get("spark.sql.shuffle.partitions") or "200"
    spark.conf.set("spark.sql.shuffle.partitions", str(width))
    try:
        return writer.trigger(**trigger).start()
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)
