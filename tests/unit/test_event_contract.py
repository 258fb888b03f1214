"""The event contract: one JSON Schema, consistent with the FX table, with named violations."""

import json
from datetime import UTC, datetime

import pytest

from lakehouse.event_contract import contract_violations, event_schema, supported_currencies
from lakehouse.fx import eur_per_unit, from_eur, to_eur

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
VALID = {
    "schema_version": 1, "transaction_id": "tx-1", "user_id": "u-1", "card_id": "c-1",
    "amount": "12.50", "currency": "EUR", "merchant_id": "m-1", "merchant_category": "5411",
    "timestamp": "2026-11-29T11:59:00.000Z",
    "location": {"country": "DE", "city": "Berlin", "lat": 52.52, "lon": 13.405},
    "channel": "pos",
}


def _reasons(event: object) -> set[str]:
    raw = event if isinstance(event, bytes) else json.dumps(event).encode()
    return {v.reason for v in contract_violations(raw, NOW)}


def test_currency_enum_equals_the_fx_table() -> None:
    assert sorted(supported_currencies()) == sorted(eur_per_unit())


def test_money_is_never_a_float_in_the_contract() -> None:
    assert event_schema()["properties"]["amount"]["type"] == "string"


def test_valid_event_has_no_violations() -> None:
    assert _reasons(VALID) == set()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"amount": "0.00"}, "non_positive_amount"),
        ({"amount": "-3.10"}, "non_positive_amount"),
        ({"amount": "12.345"}, "invalid_amount"),
        ({"amount": 12.5}, "wrong_type"),
        ({"currency": "XYZ"}, "unknown_currency"),
        ({"timestamp": "2026-12-29T11:59:00.000Z"}, "timestamp_in_future"),
        ({"timestamp": "2001-01-01T00:00:00.000Z"}, "timestamp_too_old"),
        ({"extra": 1}, "unknown_field"),
        ({"channel": "carrier-pigeon"}, "invalid_value"),
    ],
)
def test_each_violation_is_named(change: dict[str, object], reason: str) -> None:
    assert reason in _reasons({**VALID, **change})


def test_missing_field_and_malformed_json() -> None:
    assert _reasons({k: v for k, v in VALID.items() if k != "card_id"}) == {"missing_field"}
    assert _reasons(b'{"schema_version": 1, "amount"') == {"malformed_json"}
    assert _reasons(b"[1, 2]") == {"malformed_json"}


def test_oversized() -> None:
    assert "oversized" in _reasons({**VALID, "memo": "x" * 20_000})


def test_fx_round_trip() -> None:
    from decimal import Decimal

    assert to_eur(Decimal("100.00"), "GBP") == Decimal("117.00")
    assert from_eur(Decimal("117.00"), "GBP") == Decimal("100.00")


def test_compiled_fast_path_agrees_with_jsonschema_on_every_fault() -> None:
    import itertools

    from jsonschema import Draft202012Validator

    from lakehouse.event_contract import _schema_violations
    from producer.generator import GeneratorOptions, PaymentStream

    full = Draft202012Validator(event_schema())
    checked: set[bool] = set()
    for record in itertools.islice(PaymentStream(GeneratorOptions(seed=5, fault_rate=0.5)), 3000):
        try:
            event = json.loads(record.value)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        valid = full.is_valid(event)
        assert (not _schema_violations(event)) == valid, record.value[:200]
        checked.add(valid)
    assert checked == {True, False}
