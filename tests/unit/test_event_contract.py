"""The event contract: one JSON Schema, consistent with the FX table, with named violations."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

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


def test_the_currencies_accepted_are_the_fx_table_s_and_the_schema_file_lists_none() -> None:
    from lakehouse.event_contract import SCHEMA_PATH

    assert sorted(supported_currencies()) == sorted(eur_per_unit())
    assert "enum" not in json.loads(SCHEMA_PATH.read_text())["properties"]["currency"]


def test_an_fx_table_that_adds_a_currency_is_read_and_a_broken_one_refused(tmp_path: Path) -> None:
    from lakehouse.errors import PaystreamError
    from lakehouse.fx import FX_TABLE_PATH, fx_table

    extended = tmp_path / "fx.csv"
    extended.write_text(FX_TABLE_PATH.read_text() + "ISK,0.00660000,Icelandic krona\n")
    assert fx_table(extended)["ISK"] == Decimal("0.0066")
    assert set(fx_table(extended)) == {*eur_per_unit(), "ISK"}
    for row, said in [("isk,0.0066", "line 2: expected a currency code"),
                      ("ISK,-1", "line 2: expected a currency code"),
                      ("ISK,abc", "line 2: expected a currency code")]:
        broken = tmp_path / f"{abs(hash(row))}.csv"
        broken.write_text(f"currency,eur_per_unit\n{row}\n")
        with pytest.raises(PaystreamError, match=said):
            fx_table(broken)
    with pytest.raises(PaystreamError, match="cannot read the FX table"):
        fx_table(tmp_path / "missing.csv")


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
