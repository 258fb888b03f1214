"""The payment event contract: one JSON Schema file, plus the checks JSON Schema cannot say.

`lakehouse/contracts/payment_event.schema.json` is the single source of truth.
`contract_violations` names every way a raw Kafka value breaks the contract,
with the same reason codes silver's quarantine uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker

SCHEMA_PATH = Path(__file__).parent / "contracts" / "payment_event.schema.json"

REASONS = (
    "malformed_json",
    "oversized",
    "missing_field",
    "wrong_type",
    "non_positive_amount",
    "invalid_amount",
    "unknown_currency",
    "unknown_field",
    "invalid_value",
    "timestamp_in_future",
    "timestamp_too_old",
)
"""Every reason code a contract violation can carry."""

TOO_LATE = "too_late"
CONFLICTING_DUPLICATE = "conflicting_duplicate"
QUARANTINE_REASONS = (*REASONS, TOO_LATE, CONFLICTING_DUPLICATE)
"""Every reason a quarantined record can carry: the contract's, plus the two silver judges
(later than the allowed lateness for its key; a known transaction_id with another payload)."""


@dataclass(frozen=True)
class Violation:
    """One way a record breaks the contract: a reason code and where."""

    reason: str
    detail: str


def with_currencies(schema: dict[str, Any], currencies: Iterable[str]) -> dict[str, Any]:
    """The schema with the currency enum an FX table gives (the file names no list: the
    currencies with a rate are the ones accepted)."""
    properties = {**schema["properties"],
                  "currency": {**schema["properties"]["currency"], "enum": sorted(currencies)}}
    return {**schema, "properties": properties}


@cache
def event_schema() -> dict[str, Any]:
    """The event JSON Schema as a dict, the currency enum filled from the packaged FX table."""
    from lakehouse.fx import eur_per_unit

    return with_currencies(json.loads(SCHEMA_PATH.read_text()), eur_per_unit())


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(event_schema(), format_checker=FormatChecker())


@cache
def _fast_validator() -> Any:
    """The same schema compiled to Python by fastjsonschema: ~10x faster, first error only."""
    return fastjsonschema.compile(event_schema())


def _schema_violations(event: dict[str, Any]) -> list[Violation]:
    """Every schema violation: compiled check for valid events, jsonschema to name errors."""
    try:
        _fast_validator()(event)
    except fastjsonschema.JsonSchemaException:
        pass
    else:
        if _timestamp_is_rfc3339(event.get("timestamp")):
            return []
    errors = sorted(_validator().iter_errors(event), key=lambda e: list(e.absolute_path))
    # A value of the wrong type is that and only that (the const/enum it also fails says no more).
    mistyped = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    return [_classify(error) for error in errors
            if error.validator == "type" or tuple(error.absolute_path) not in mistyped]


def _timestamp_is_rfc3339(stamp: Any) -> bool:
    """The date-time check jsonschema applies, so both paths agree on odd timestamps."""
    return isinstance(stamp, str) and _validator().format_checker.conforms(stamp, "date-time")


def contract_limits() -> dict[str, int]:
    """Size and time bounds stored beside the schema (`x-paystream`)."""
    return dict(event_schema()["x-paystream"])


def required_fields() -> list[str]:
    """The top-level fields every event must carry."""
    return list(event_schema()["required"])


def supported_currencies() -> list[str]:
    """The currency codes the contract accepts."""
    return list(event_schema()["properties"]["currency"]["enum"])


def _classify(error: Any) -> Violation:
    path = ".".join(str(p) for p in error.absolute_path) or "$"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        where = f"{path}.{missing}" if path != "$" else missing
        return Violation("missing_field", where)
    if error.validator == "type":
        return Violation("wrong_type", path)
    if error.validator == "additionalProperties":
        return Violation("unknown_field", f"{path}: {error.message}")
    if path == "amount":
        try:
            if Decimal(str(error.instance)) <= 0:
                return Violation("non_positive_amount", str(error.instance))
        except (InvalidOperation, ValueError):
            pass
        return Violation("invalid_amount", str(error.instance)[:40])
    if path == "currency" and error.validator == "enum":
        return Violation("unknown_currency", str(error.instance)[:16])
    return Violation("invalid_value", f"{path}: {error.validator}")


def _eur_value_fits(event: dict[str, Any]) -> bool:
    """True when the amount in EUR fits silver's decimal(18,2)."""
    from lakehouse.fx import to_eur

    return abs(to_eur(Decimal(event["amount"]), event["currency"])) < Decimal(10) ** 16


def parse_event_time(text: str) -> datetime:
    """Parse the contract's ISO-8601 UTC timestamp."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def contract_violations(raw: bytes, now: datetime) -> list[Violation]:
    """Every way a raw Kafka value breaks the contract, judged at time `now` (empty = valid)."""
    limits = contract_limits()
    if len(raw) > limits["max_event_bytes"]:
        return [Violation("oversized", f"{len(raw)} bytes")]  # not parsed: bounded work per record
    try:
        event = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        return [Violation("malformed_json", str(error)[:80])]
    if not isinstance(event, dict):
        return [Violation("malformed_json", "not a JSON object")]
    violations = _schema_violations(event)
    if not violations and not _eur_value_fits(event):
        violations.append(Violation("invalid_amount", "its EUR value exceeds decimal(18,2)"))
    stamp = event.get("timestamp")
    if isinstance(stamp, str):
        try:
            event_time = parse_event_time(stamp)
        except ValueError:  # matches the pattern but names no instant, e.g. 2026-02-30
            invalid = Violation("invalid_value", f"timestamp: {stamp[:40]}")
            return violations if invalid.reason in {v.reason for v in violations} else [
                *violations, invalid]
        if event_time > now + timedelta(seconds=limits["max_future_seconds"]):
            violations.append(Violation("timestamp_in_future", stamp))
        elif event_time < now - timedelta(days=limits["max_age_days"]):
            violations.append(Violation("timestamp_too_old", stamp))
    return violations


def format_event_time(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a Z, as the contract wants."""
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")[:23] + "Z"
