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
