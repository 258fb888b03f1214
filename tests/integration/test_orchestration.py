"""Airflow DAGs, Great Expectations suites and the daily backfill on real services and data.

One module fixture sends producer events that straddle a midnight (so two dates
have data), runs the pipeline over them, and points Airflow (in-process
`dag.test()`, its own AIRFLOW_HOME under the test state folder) and the
project's settings at that lake.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from lakehouse.catalog import Catalog
from lakehouse.settings import Settings
from tests.integration.conftest import Lake

pytestmark = pytest.mark.integration

DAG_IDS = {"kafka_topic_setup", "data_quality", "daily_backfill_report", "lakehouse_maintenance",
           "rule_backtest", "dispositions_to_labels", "quarantine_replay", "reference_statistics",
           "risk_model_training"}
DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
EVENTS = 4_000


def _dag(dag_id: str):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def _dq_rows(settings: Settings) -> list[tuple[Any, ...]]:
    from lakehouse.stores.postgres import owner_connection

    conn = owner_connection(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT run_id, suite, success, expectations_evaluated, "
                        "expectations_failed, docs_url, details FROM payments.dq_results "
                        "ORDER BY id")
            return list(cur.fetchall())
    finally:
        conn.close()


def test_every_dag_imports_with_tags_retries_and_docs(lake: Lake) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == DAG_IDS
    for dag_id in DAG_IDS:
        dag = bag.get_dag(dag_id)
        assert dag.tags and "paystream" in dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md) > 80, dag_id
        assert all(task.retries is not None for task in dag.tasks), dag_id
        assert dag.default_args.get("retries", 0) >= 1, dag_id
    # no catch-up: a first start would run a month of empty days on a small machine
    assert bag.get_dag("daily_backfill_report").catchup is False


def test_kafka_topic_setup_dag_reconciles_and_verifies(lake: Lake) -> None:
    from lakehouse.stores.kafka import admin_client

    admin = admin_client(lake.settings.kafka)
    try:
        admin.delete_topics(["transactions_dlq"])
    finally:
        admin.close()
    run = None
    for _ in range(20):  # the deleted topic takes a moment to go away
        run = _dag("kafka_topic_setup").test()
        if run.state == "success":
            break
    assert run is not None and run.state == "success"
    admin = admin_client(lake.settings.kafka)
    try:
        assert "transactions_dlq" in admin.list_topics()
    finally:
        admin.close()


def test_daily_backfill_report_dag_writes_the_report_and_mirrors_it(lake: Lake) -> None:
    day = lake.days[0]
    run = _dag("daily_backfill_report").test(
        logical_date=datetime(day.year, day.month, day.day, tzinfo=UTC))
    assert run.state == "success"
    report = lake.spark.read.format("delta").load(lake.catalog.table("gold.daily_report")).where(
        f"report_date = '{day}'").collect()
    assert len(report) == 1
    silver_count = lake.spark.read.format("delta").load(
        lake.catalog.table("silver.transactions")).where(f"event_date = '{day}'").count()
    assert report[0]["payments"] == silver_count > 0
    from lakehouse.stores.postgres import owner_connection

    conn = owner_connection(lake.settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT report FROM payments.daily_reports WHERE report_date = %s", (day,))
            mirrored = cur.fetchone()[0]
    finally:
        conn.close()
    assert mirrored["payments"] == silver_count
    assert mirrored["alerts_only_batch"] == 0 and mirrored["alerts_only_streamed"] == 0


def test_rule_backtest_dag_stores_a_report_of_the_batch_rules(lake: Lake) -> None:
    from spark_jobs.backtest_job import reports_folder

    day = lake.days[0]
    before = set(reports_folder(lake.settings).glob("*.json"))
    run = _dag("rule_backtest").test(run_conf={"from": str(day), "to": str(day)})
    assert run.state == "success"
    (stored,) = set(reports_folder(lake.settings).glob("*.json")) - before
    document = json.loads(stored.read_text())
    assert (document["first"], document["last"]) == (str(day), str(day))
    gold = lake.spark.read.format("delta").load(lake.catalog.table("gold.alerts")).where(
        f"event_date = '{day}'")
    assert document["overall"]["alerts"] == gold.select("transaction_id").distinct().count() > 0
    assert Path(document["html"]).exists()


def test_risk_model_training_dag_says_why_a_young_lake_trains_no_model(lake: Lake) -> None:
    from spark_jobs.risk_model import registry_rows

    run = _dag("risk_model_training").test()
    assert run.state == "success"
    (task,) = [ti for ti in run.get_task_instances() if ti.task_id == "train_and_compare"]
    assert task.state == "success"
    assert registry_rows(lake.spark, lake.settings) == []


def _report(lake: Lake, day: date) -> dict[str, Any]:
    row = lake.spark.read.format("delta").load(lake.catalog.table("gold.daily_report")).where(
        f"report_date = '{day}'").drop("generated_at").toJSON().collect()
    assert len(row) == 1
    return dict(json.loads(row[0]))


def test_backfilling_two_dates_twice_gives_identical_reports(lake: Lake) -> None:
    from spark_jobs.daily_report import run

    first = {day: _report(lake, day) for day in lake.days}  # the lake fixture backfilled both
    alerts_before = lake.spark.read.format("delta").load(
        lake.catalog.table("gold.alerts")).count()
    for day in lake.days:
        run(lake.spark, lake.settings, day)
        assert _report(lake, day) == first[day]
    assert lake.spark.read.format("delta").load(
        lake.catalog.table("gold.alerts")).count() == alerts_before
    total = sum(first[day]["payments"] for day in lake.days)
    silver = lake.spark.read.format("delta").load(lake.catalog.table("silver.transactions"))
    assert total == silver.count()
    for day in lake.days:
        report = first[day]
        assert report["payments"] > 0
        assert sum(c["payments"] for c in report["by_currency"]) == report["payments"]
        assert sum(c["payments"] for c in report["by_country"]) == report["payments"]
        assert report["streamed_alerts"] == report["batch_alerts"]
        assert report["alerts_only_batch"] == report["alerts_only_streamed"] == 0
        print(f"\n{day}: {report['payments']} payments, alerts by rule {report['alerts_by_rule']}, "
              f"quarantine {report['quarantine_by_reason']}")
    # Quarantine is filed by arrival (Kafka) date, which is today, not a day of the events:
    # before 01:30 UTC the fixture's two days are both yesterday's or earlier.
    quarantine = lake.spark.read.format("delta").load(lake.catalog.table("silver.quarantine"))
    for row in quarantine.select("quarantine_date").distinct().collect():
        if row[0] not in first:
            run(lake.spark, lake.settings, row[0])
            first[row[0]] = _report(lake, row[0])
    assert any(report["quarantine_by_reason"] for report in first.values())


def test_data_quality_dag_passes_records_results_and_builds_docs(lake: Lake) -> None:
    from expectations.runner import docs_index

    before = len(_dq_rows(lake.settings))
    run = _dag("data_quality").test()
    assert run.state == "success"
    rows = _dq_rows(lake.settings)[before:]
    suites = {row[1] for row in rows}
    assert suites == {"bronze_transactions_raw", "silver_transactions", "silver_quarantine",
                      "gold_alerts", "gold_daily_report"}
    assert all(row[3] > 0 for row in rows)
    assert all(not row[6]["failed_critical"] for row in rows), rows
    index = docs_index(lake.settings)
    assert index is not None and index.exists()
    assert "silver_transactions" in index.read_text() or any(
        "silver_transactions" in p.name for p in index.parent.rglob("*.html"))
    assert rows[0][5] == index.as_uri()


def test_a_corrupted_table_fails_data_quality_naming_the_expectation(
        lake: Lake, tmp_path: Path) -> None:
    from pyspark.sql import functions as F

    corrupted = tmp_path / "lake"
    shutil.copytree(lake.catalog.lake_root, corrupted)
    catalog = Catalog(corrupted)
    silver = lake.spark.read.format("delta").load(catalog.table("silver.transactions"))
    silver.limit(3).write.format("delta").mode("append").save(catalog.table(
        "silver.transactions"))
    alerts = lake.spark.read.format("delta").load(catalog.table("gold.alerts"))
    alerts.limit(1).withColumn("rule_id", F.lit("made_up_rule")).withColumn(
        "alert_id", F.lit("corrupt")).write.format("delta").mode("append").save(
        catalog.table("gold.alerts"))
    os.environ["PAYSTREAM_LAKE_ROOT"] = str(corrupted)
    try:
        before = len(_dq_rows(lake.settings))
        run = _dag("data_quality").test()
    finally:
        os.environ["PAYSTREAM_LAKE_ROOT"] = str(lake.catalog.lake_root)
    assert run.state == "failed"
    failed = {row[1]: row[6]["failed_critical"] for row in _dq_rows(lake.settings)[before:]}
    assert failed["silver_transactions"] == [
        "expect_column_values_to_be_unique(column=transaction_id)"]
    assert failed["gold_alerts"] == ["expect_column_values_to_be_in_set(column=rule_id)"]
    assert failed["bronze_transactions_raw"] == []
    from tests.conftest import run_cli

    result = run_cli("dq", "--no-record", env={"PAYSTREAM_LAKE_ROOT": str(corrupted)},
                     timeout=600)
    assert result.returncode == 1
    assert "silver_transactions        FAILED" in result.stdout
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("paystream dq: error: 4 critical expectation(s) failed: "
                            "silver_transactions: expect_column_values_to_be_unique")


def test_lakehouse_maintenance_dag_compacts_without_changing_data(lake: Lake) -> None:
    counts = {t: lake.spark.read.format("delta").load(lake.catalog.table(t)).count()
              for t in ("bronze.transactions_raw", "silver.transactions", "gold.alerts")}
    files_before = len(list(Path(lake.catalog.table("bronze.transactions_raw")).rglob(
        "*.parquet")))
    run = _dag("lakehouse_maintenance").test()
    assert run.state == "success"
    for table, count in counts.items():
        assert lake.spark.read.format("delta").load(lake.catalog.table(table)).count() == count
    from delta.tables import DeltaTable

    history = DeltaTable.forPath(lake.spark, lake.catalog.table("bronze.transactions_raw"))
    operations = [r["operation"] for r in history.history(5).collect()]
    assert "OPTIMIZE" in operations and files_before > 1


def test_paystream_airflow_serves_the_dags_behind_a_login(lake: Lake) -> None:
    import time
    import urllib.request

    from paystream.runtime import airflow_server
    from tests.conftest import run_cli

    env = {k: v for k, v in os.environ.items() if k.startswith(("PAYSTREAM_", "AIRFLOW"))}
    try:
        result = run_cli("airflow", env=env, timeout=400)
        assert result.returncode == 0, result.stderr[-2000:]
        info = airflow_server.info(lake.settings)
        assert info.url in result.stdout and f"login admin / {info.password}" in result.stdout
        request = urllib.request.Request(
            f"{info.url}/auth/token", method="POST",
            data=json.dumps({"username": "admin", "password": info.password}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            token = json.loads(response.read())["access_token"]
        listed: set[str] = set()
        deadline = time.monotonic() + 180
        while listed != DAG_IDS and time.monotonic() < deadline:
            request = urllib.request.Request(f"{info.url}/api/v2/dags?limit=100",
                                             headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=30) as response:
                listed = {d["dag_id"] for d in json.loads(response.read())["dags"]}
            time.sleep(3)
        assert listed == DAG_IDS
    finally:
        assert airflow_server.stop(lake.settings)


SQL_QUERIES = (
    "SELECT rule_id, severity, count(*) AS n, sum(amount_eur) AS eur FROM gold_alerts "
    "GROUP BY rule_id, severity ORDER BY rule_id",
    "SELECT currency, count(*) AS n, sum(amount_eur) AS eur FROM silver_transactions "
    "GROUP BY currency ORDER BY currency",
    "SELECT primary_reason, count(*) AS n FROM silver_quarantine GROUP BY primary_reason "
    "ORDER BY primary_reason",
    "SELECT report_date, payments, amount_eur FROM gold_daily_report ORDER BY report_date",
    "SELECT count(*) AS n, count(DISTINCT key) AS keys FROM bronze_transactions_raw",
    "SELECT user_id, sum(payments) AS p FROM gold_user_activity_1m GROUP BY user_id "
    "ORDER BY p DESC, user_id LIMIT 5",
    "SELECT merchant_id, sum(amount_eur) AS eur FROM gold_merchant_activity_1m "
    "GROUP BY merchant_id ORDER BY eur DESC, merchant_id LIMIT 5",
)


@pytest.mark.parametrize("query", SQL_QUERIES)
def test_paystream_sql_equals_spark_on_the_same_tables(lake: Lake, query: str) -> None:
    from lakehouse.catalog import TABLES
    from lakehouse.sql_shell import _jsonable
    from tests.conftest import run_cli

    for table in TABLES:
        if not (Path(lake.catalog.table(table)) / "_delta_log").exists():
            continue  # e.g. gold.labels: the pipeline does not write it
        lake.spark.read.format("delta").load(lake.catalog.table(table)).createOrReplaceTempView(
            lake.catalog.sql_name(table))
    expected = [_jsonable(row.asDict()) for row in lake.spark.sql(query).collect()]
    result = run_cli("sql", "--format", "json", query, timeout=120)
    assert result.returncode == 0, result.stderr
    got = [json.loads(line) for line in result.stdout.splitlines()]
    assert got == expected and got


def test_paystream_sql_prints_duckdb_errors_in_one_line(lake: Lake) -> None:
    from tests.conftest import run_cli

    result = run_cli("sql", "SELECT nope FROM gold_alerts")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Binder Error" in lines[0] and "nope" in lines[0]
