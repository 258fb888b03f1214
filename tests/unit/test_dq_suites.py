"""The data-quality suites read the same sources of truth as the pipeline they check."""

from pathlib import Path

import yaml

from lakehouse.rules import RULES_PATH
from lakehouse.settings import load_settings


def test_gold_alerts_accepts_the_rules_of_the_rules_file_the_pipeline_reads(
        tmp_path: Path) -> None:
    from expectations.suites import gold_alerts

    shipped = yaml.safe_load(RULES_PATH.read_text())
    own = {**shipped, "rules": {"high_amount": shipped["rules"]["high_amount"]}}
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump(own))
    suite = gold_alerts(load_settings(rules_file=rules_file))
    allowed = [e.value_set for e in suite.expectations
               if getattr(e, "column", None) == "rule_id" and hasattr(e, "value_set")]
    assert allowed == [["high_amount"]]
    shipped_suite = gold_alerts(load_settings())
    assert [e.value_set for e in shipped_suite.expectations
            if getattr(e, "column", None) == "rule_id" and hasattr(e, "value_set")] == [
        sorted(shipped["rules"])]


def test_each_suite_outcome_becomes_one_dq_results_row_in_the_stores_column_order() -> None:
    import json

    from expectations.runner import SuiteOutcome, dq_result_rows
    from lakehouse.stores.postgres import DQ_RESULT_COLUMNS

    outcomes = [SuiteOutcome("gold_alerts", "gold.alerts", True, 5, 0),
                SuiteOutcome("silver_transactions", "silver.transactions", False, 7, 2,
                             failed_critical=["a"], failed_warning=["b"],
                             docs_url="file:///docs/index.html")]
    rows = dq_result_rows(outcomes, "dq-1")
    assert [dict(zip(DQ_RESULT_COLUMNS, row, strict=True)) for row in rows] == [
        {"run_id": "dq-1", "suite": "gold_alerts", "success": True,
         "expectations_evaluated": 5, "expectations_failed": 0, "docs_url": None,
         "details": json.dumps({"table": "gold.alerts", "failed_critical": [],
                                "failed_warning": []})},
        {"run_id": "dq-1", "suite": "silver_transactions", "success": False,
         "expectations_evaluated": 7, "expectations_failed": 2,
         "docs_url": "file:///docs/index.html",
         "details": json.dumps({"table": "silver.transactions", "failed_critical": ["a"],
                                "failed_warning": ["b"]})}]
