"""The learned risk model on a real lake: trained only on the labels known at training time,
registered in gold.risk_models, promoted champion over champion, read back as the live model
by the backtest, and explained by credits that add up to the model's own margin."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from lakehouse.catalog import Catalog
from lakehouse.settings import Settings, load_settings
from lakehouse.stores import delta
from lakehouse.tables import GOLD_LABELS
from spark_jobs.backtest_job import BacktestRequest, run_backtest_job
from spark_jobs.risk_model import (
    CHAMPION,
    MODEL_FEATURES,
    RAW,
    VECTOR,
    explainer,
    live_model,
    registry_rows,
)
from spark_jobs.risk_model_registry import retire
from spark_jobs.risk_model_training import (
    Periods,
    labelled_rows,
    promote_if_better,
    train_model,
)
from tests.lake_rows import write_as_silver
from tests.unit.test_stream_behaviour import START, _labels, _payments

KNOWN_AT = datetime(2026, 9, 30, tzinfo=UTC)
"""Training day: a label that arrived after it is unknown to the model."""
TREES = 8
"""Fewer trees than the product's: the wiring, the registry and the credits are the same."""
PERIODS = Periods(date(2026, 9, 1), date(2026, 9, 18), date(2026, 9, 19), date(2026, 9, 24),
                  KNOWN_AT)


def _write_lake(spark: Any, settings: Settings) -> None:
    """Silver and gold.labels of the behaviour test's 40 days (the rules file's defaults)."""
    from pyspark.sql import functions as F

    payments, labels = _payments(), _labels(_payments())
    catalog = Catalog(settings.lake_location)
    frame = spark.createDataFrame(
        [(p["transaction_id"], p["user_id"], p["card_id"], Decimal(p["amount"]),
          p["merchant_id"], p["merchant_category"],
          datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00")), p["channel"],
          52.52, 13.40, "Berlin", "DE") for p in payments],
        "transaction_id string, user_id string, card_id string, amount_eur decimal(18,2), "
        "merchant_id string, merchant_category string, event_time timestamp, channel string, "
        "lat double, lon double, city string, country string").withColumn(
        "event_date", F.to_date("event_time"))
    write_as_silver(frame, catalog)
    rows = [(lab["transaction_id"], "fraud", "compromised_terminal", "chargebacks",
             datetime.fromisoformat(lab["labelled_at"])) for lab in labels]
    (spark.createDataFrame(rows, delta.declared_schema(GOLD_LABELS))
     .write.format("delta").save(catalog.table(GOLD_LABELS)))


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory: pytest.TempPathFactory) -> Settings:  # type: ignore[no-untyped-def]
    settings = load_settings(lake_root=tmp_path_factory.mktemp("model") / "lake",
                             home=tmp_path_factory.mktemp("home"))
    _write_lake(spark, settings)
    return settings


@pytest.fixture(scope="module")
def trained(spark, lake: Settings):  # type: ignore[no-untyped-def]
    first = train_model(spark, lake, PERIODS, trees=TREES)
    verdict = promote_if_better(spark, lake, first.version, force=True)
    return first, verdict


def test_only_the_labels_known_at_training_time_are_learned(spark, lake: Settings) -> None:  # type: ignore[no-untyped-def]
    labels = _labels(_payments())
    rows = labelled_rows(spark, lake, PERIODS.train_from, PERIODS.train_to, KNOWN_AT)
    learned = {r["transaction_id"] for r in rows.where("is_fraud").collect()}
    known = {lab["transaction_id"] for lab in labels
             if datetime.fromisoformat(lab["labelled_at"]) <= KNOWN_AT
             and (datetime.fromisoformat(lab["event_time"].replace("Z", "+00:00"))
                  < datetime.combine(PERIODS.train_to + timedelta(days=1), datetime.min.time(),
                                     UTC))}
    arrived_later = {lab["transaction_id"] for lab in labels
                     if datetime.fromisoformat(lab["labelled_at"]) > KNOWN_AT}
    assert learned == known and len(learned) >= 20
    assert not learned & arrived_later
    weights = {r["weight"] for r in rows.where("is_fraud").select("weight").collect()}
    assert weights == {5.0}


def test_the_trained_model_is_registered_with_its_figures(spark, lake: Settings, trained) -> None:  # type: ignore[no-untyped-def]
    first, verdict = trained
    (row,) = registry_rows(spark, lake)
    assert (row["version"], row["status"]) == (first.version, CHAMPION) == (1, CHAMPION)
    assert (row["train_from"], row["valid_to"]) == (PERIODS.train_from, PERIODS.valid_to)
    assert row["labels_known_at"].replace(tzinfo=UTC) == KNOWN_AT
    assert 0 < row["threshold"] <= 1 and row["valid_frauds"] > 0
    assert row["note"] == "promoted by hand, not compared" and verdict.challenger == (None,
                                                                                       None)
    assert {name for name, _ in row["importances"]} <= set(MODEL_FEATURES)
    assert Path(row["path"]).is_dir() and verdict.champion_version is None


def test_a_new_champion_retires_the_old_one(spark, lake: Settings, trained) -> None:  # type: ignore[no-untyped-def]
    second = train_model(spark, lake, PERIODS, trees=TREES)
    verdict = promote_if_better(spark, lake, second.version)
    rows = {int(r["version"]): r for r in registry_rows(spark, lake)}
    better = verdict.status == CHAMPION
    assert {v: r["status"] for v, r in rows.items()} == (
        {1: "retired", 2: CHAMPION} if better else {1: CHAMPION, 2: "rejected"})
    assert (rows[2]["compared_precision"], rows[2]["compared_recall"]) == verdict.challenger
    assert verdict.champion_version == 1 and "decision:review+block" in verdict.text
    promote_if_better(spark, lake, second.version, force=True)
    model = live_model(spark, lake)
    assert model is not None and model.version == 2
    assert retire(spark, lake) == 2 and live_model(spark, lake) is None
    promote_if_better(spark, lake, second.version, force=True)


def test_the_backtest_scores_with_the_live_model(spark, lake: Settings, trained) -> None:  # type: ignore[no-untyped-def]
    model = live_model(spark, lake)
    assert model is not None
    test = (date(2026, 9, 25), date(2026, 10, 10))
    outcome = run_backtest_job(spark, lake, BacktestRequest(
        lake.rules_file, *test, compare_model="none"))
    assert f"risk model version {model.version}" in outcome.text
    assert outcome.document["model_version"] == model.version
    alone = outcome.document["compare"]
    assert alone["model_version"] is None
    assert alone["candidate"]["frauds"] == outcome.document["frauds"] > 0
    assert [d["rule_id"] for d in outcome.document["decisions"]] == [
        "decision:review+block", "decision:block"]


def test_the_reasons_add_up_to_the_models_margin(spark, lake: Settings, trained) -> None:  # type: ignore[no-untyped-def]
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F
    from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame

    model = live_model(spark, lake)
    assert model is not None
    rows = labelled_rows(spark, lake, date(2026, 9, 25), date(2026, 9, 30), KNOWN_AT)
    scored = model.pipeline.transform(rows)
    reasons = explainer(spark, model)
    credited = ClassicDataFrame(reasons.withCredits(scored._jdf, VECTOR, "credits"), spark)
    checked = credited.select(vector_to_array(F.col(RAW)).getItem(1).alias("margin"),
                              "credits").collect()
    assert len(checked) > 50
    bias = reasons.bias()
    for row in checked:
        assert sum(row["credits"]) + bias == pytest.approx(row["margin"], abs=1e-9)
    assert any(max(row["credits"]) > 0 for row in checked)
    assert START.date() < date(2026, 9, 25)
