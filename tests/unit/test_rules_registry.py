"""The rules package: one module per rule, each with its parameters checked when the rules file
is read, its family, its Spark expression and (for the rules with no behavioural features) its
golden cases."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from lakehouse.errors import PaystreamError
from lakehouse.rules import (
    BEHAVIOUR_RULES,
    RULE_MODULES,
    RULES_PATH,
    STREAMED_RULES,
    load_rules,
    parse_rules,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden_rules"
SHIPPED = yaml.safe_load(RULES_PATH.read_text())


def _with(rule_id: str, **params: object) -> dict[str, object]:
    document = copy.deepcopy(SHIPPED)
    document["rules"][rule_id]["params"].update(params)
    return document


def test_every_rule_module_declares_what_the_engines_need() -> None:
    for rule_id, module in RULE_MODULES.items():
        assert module.__name__ == f"lakehouse.rules.{rule_id}"
        assert module.FAMILY in ("instant", "user", "merchant", "behaviour")
        assert callable(module.alerts) and module.__doc__
    assert sorted(STREAMED_RULES) == sorted(RULE_MODULES)


def test_each_rule_but_amount_vs_profile_has_golden_cases_and_each_file_a_rule() -> None:
    golden = {path.stem for path in GOLDEN.glob("*.yaml")}
    assert golden == set(RULE_MODULES) - {"amount_vs_profile"}
    assert "risky_terminal" in golden and "risky_terminal" in BEHAVIOUR_RULES
    for path in GOLDEN.glob("*.yaml"):
        assert yaml.safe_load(path.read_text())["rule"] == path.stem


def test_the_shipped_rules_file_passes_every_rule_s_parameter_check() -> None:
    rules = load_rules()
    assert set(rules) == set(RULE_MODULES)
    assert rules["velocity"].params == SHIPPED["rules"]["velocity"]["params"]


@pytest.mark.parametrize(("rule_id", "params", "said"), [
    ("velocity", {"max_payments": 0}, "velocity: max_payments input should be greater than 0"),
    ("velocity", {"window_seconds": "a minute"}, "window_seconds input should be a valid integer"),
    ("high_amount", {"threshold_eur": "-1"}, "threshold_eur input should be greater than 0"),
    ("card_testing", {"max_amount": "2.00"}, "max_amount is not a parameter of this rule"),
    ("risky_terminal", {"min_fraud_rate": 1.5}, "min_fraud_rate input should be less than or"),
])
def test_a_bad_parameter_is_refused_in_one_line_naming_the_rule_and_field(
    rule_id: str, params: dict[str, object], said: str
) -> None:
    with pytest.raises(PaystreamError) as refused:
        parse_rules(_with(rule_id, **params), "rules.yaml")
    message = str(refused.value)
    assert said in message and message.startswith("rules.yaml: rule ")
    assert "\n" not in message


def test_an_old_rules_file_with_delay_days_loads_with_one_warning_naming_the_change(
        caplog: pytest.LogCaptureFixture) -> None:
    document = copy.deepcopy(SHIPPED)
    document["rules"]["risky_terminal"]["params"] = {
        "delay_days": 1, "window_days": 3, "min_frauds": 2, "min_fraud_rate": 0.2}
    with caplog.at_level("WARNING"):
        rules = parse_rules(document, "old-rules.yaml")
        assert parse_rules(document, "old-rules.yaml") == rules  # read again: no second line
    assert rules["risky_terminal"].params == {
        "window_days": 3, "min_frauds": 2, "min_fraud_rate": 0.2, "fade_days": 1}
    lines = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert lines[0].startswith("old-rules.yaml: rule risky_terminal: delay_days ignored: ")
    assert "known before the payment's day" in lines[0] and "fade_days" in lines[0]


def test_the_shipped_risky_terminal_names_no_retired_parameter_and_loads_quietly(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        rules = load_rules()
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert rules["risky_terminal"].params == {
        "window_days": 10, "min_frauds": 3, "min_fraud_rate": 0.06, "fade_days": 0}


def test_a_missing_parameter_unknown_rule_or_unreadable_file_is_refused(tmp_path: Path) -> None:
    document = copy.deepcopy(SHIPPED)
    del document["rules"]["impossible_travel"]["params"]["lookback_hours"]
    with pytest.raises(PaystreamError, match="impossible_travel: lookback_hours field required"):
        parse_rules(document)
    document = copy.deepcopy(SHIPPED)
    document["rules"]["speedy"] = {"severity": "low", "params": {}}
    with pytest.raises(PaystreamError, match="unknown rule: speedy"):
        parse_rules(document)
    with pytest.raises(PaystreamError, match="expected a `rules:` mapping"):
        parse_rules({"rule": {}})
    broken = tmp_path / "rules.yaml"
    broken.write_text("rules: [unclosed")
    with pytest.raises(PaystreamError, match="cannot read the rules file"):
        load_rules(broken)
