"""The event contract as Spark SQL expressions: total, no Python UDF, usable in real-time mode.

Built by walking the JSON Schema (lakehouse/contracts/payment_event.schema.json),
so the schema stays the single source. Every expression is total: a record that
is not JSON, not UTF-8, nested a thousand deep, megabytes long, or whose
timestamp matches the pattern but names no real instant (2026-02-30) yields
reason codes, never an exception, because parsing goes through
`try_parse_json`, `try_variant_get`, `try_to_timestamp` and `try_cast`, and a
value counts as valid only when the conversions silver applies to it succeed.

Reason codes are the contract's (lakehouse.event_contract.REASONS) plus the
ones silver adds itself; a unit test holds them equal to the Python reference
check on the producer's faults and a fuzz corpus.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lakehouse.event_contract import contract_limits, event_schema, with_currencies

if TYPE_CHECKING:
    from pyspark.sql import Column

_NUMBER_TYPES = ("BIGINT", "INT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT")


def parse_event(value: Column) -> Column:
    """The record's value as a variant; NULL when oversized, not UTF-8 or not JSON."""
    from pyspark.sql import functions as F

    text = value.cast("string")
    fits = F.coalesce(F.octet_length(value) <= F.lit(contract_limits()["max_event_bytes"]),
                      F.lit(False))
    return F.when(fits & F.is_valid_utf8(text), F.try_parse_json(text))


def _variant_type(node: Column) -> Column:
    from pyspark.sql import functions as F

    return F.schema_of_variant(node)


def _type_matches(kind: str, node: Column) -> Column:
    from pyspark.sql import functions as F

    name = _variant_type(node)
    if kind == "object":
        return name.startswith("OBJECT<")
    if kind == "string":
        return name == "STRING"
    if kind == "integer":
        return name.isin("BIGINT", "INT", "SMALLINT", "TINYINT") | name.rlike(r"^DECIMAL\(\d+,0\)$")
    if kind == "number":
        return name.isin(*_NUMBER_TYPES) | name.startswith("DECIMAL(")
    if kind == "boolean":
        return name == "BOOLEAN"
    return F.lit(False)


def _get(node: Column, field: str) -> Column:
    from pyspark.sql import functions as F

    return F.try_variant_get(node, f"$['{field}']", "variant")


def _string(node: Column) -> Column:
    from pyspark.sql import functions as F

    return F.try_variant_get(node, "$", "string")


def _value_checks(path: str, spec: dict[str, Any], node: Column) -> list[tuple[Column, str]]:
    """(failing condition, reason) pairs for one present value whose type already matches."""
    from pyspark.sql import functions as F

    checks: list[tuple[Column, str]] = []
    kind = spec.get("type")
    if kind == "string":
        text = _string(node)
        if "minLength" in spec:
            checks.append((F.char_length(text) < spec["minLength"], "invalid_value"))
        if "maxLength" in spec:
            checks.append((F.char_length(text) > spec["maxLength"], "invalid_value"))
        if "enum" in spec:
            reason = "unknown_currency" if path == "currency" else "invalid_value"
            checks.append((~text.isin(*spec["enum"]), reason))
        if "pattern" in spec:
            if path == "amount":
                non_positive = F.coalesce(text.try_cast("double") <= 0, F.lit(False))
                checks.append((~text.rlike(spec["pattern"]) & non_positive,
                               "non_positive_amount"))
                checks.append((~text.rlike(spec["pattern"]) & ~non_positive, "invalid_amount"))
            else:
                checks.append((~text.rlike(spec["pattern"]), "invalid_value"))
        if spec.get("format") == "date-time":
            checks.append((F.try_to_timestamp(text).isNull(), "invalid_value"))
    elif kind in ("integer", "number"):
        number = F.try_variant_get(node, "$", "double")
        if "const" in spec:
            checks.append((number != F.lit(float(spec["const"])), "invalid_value"))
        if "minimum" in spec:
            checks.append((number < F.lit(float(spec["minimum"])), "invalid_value"))
        if "maximum" in spec:
            checks.append((number > F.lit(float(spec["maximum"])), "invalid_value"))
    elif kind == "object":
        checks.extend(_object_checks(path, spec, node))
    return checks


def _object_checks(path: str, spec: dict[str, Any], node: Column) -> list[tuple[Column, str]]:
    """(failing condition, reason) pairs for an object whose type already matches."""
    from pyspark.sql import functions as F

    checks: list[tuple[Column, str]] = []
    properties: dict[str, Any] = spec.get("properties", {})
    for name in spec.get("required", []):
        checks.append((_get(node, name).isNull(), "missing_field"))
    if spec.get("additionalProperties") is False:
        # The object's keys from one cast to a map: printing the object as JSON to list them
        # again cost a third of the whole check (measured, 50,000 generator records).
        keys = F.map_keys(F.try_variant_get(node, "$", "map<string,variant>"))
        extra = F.array_except(keys, F.array(*[F.lit(k) for k in properties]))
        checks.append((F.size(extra) > 0, "unknown_field"))
    for name, child in properties.items():
        child_path = f"{path}.{name}" if path else name
        value = _get(node, name)
        type_ok = _type_matches(str(child.get("type")), value)
        checks.append((value.isNotNull() & ~type_ok, "wrong_type"))
        for condition, reason in _value_checks(child_path, child, value):
            checks.append((value.isNotNull() & type_ok & condition, reason))
    return checks


def fx_rate(currency: Column, rates: Mapping[str, Decimal]) -> Column:
    """EUR per unit of the currency, from an FX table as a literal map (no join); NULL for a
    currency the table does not list."""
    from pyspark.sql import functions as F

    pairs = [item for code, rate in sorted(rates.items())
             for item in (F.lit(code), F.lit(rate).cast("decimal(18,8)"))]
    return F.try_element_at(F.create_map(*pairs), currency)


def amount_eur_at(amount: Column, eur_per_unit: Column) -> Column:
    """The amount in EUR at a rate, as decimal(18,2) rounded half-even; NULL when it does not
    fit."""
    from pyspark.sql import functions as F

    return F.bround(amount * eur_per_unit, 2).try_cast("decimal(18,2)")


def contract_reasons(event: Column, value: Column, kafka_timestamp: Column,
                     rates: Mapping[str, Decimal]) -> Column:
    """The distinct contract reason codes of one record (empty = valid), judged at Kafka time.

    `event` is `parse_event(value)`; times are judged against the record's Kafka timestamp;
    the currencies accepted are those `rates` (an FX table) lists.
    """
    from pyspark.sql import functions as F

    schema = with_currencies(event_schema(), rates)
    limits = contract_limits()
    oversized = F.coalesce(F.octet_length(value) > F.lit(limits["max_event_bytes"]),
                           F.lit(False))
    is_object = F.coalesce(_type_matches("object", event), F.lit(False))
    checks = [(is_object & condition, reason)
              for condition, reason in _object_checks("", schema, event)]
    stamp = F.try_to_timestamp(F.try_variant_get(event, "$.timestamp", "string"))
    future = F.timestamp_seconds(F.unix_seconds(kafka_timestamp) + limits["max_future_seconds"])
    oldest = F.timestamp_seconds(F.unix_seconds(kafka_timestamp)
                                 - limits["max_age_days"] * 86_400)
    checks.append((stamp > future, "timestamp_in_future"))
    checks.append((stamp < oldest, "timestamp_too_old"))
    amount = F.try_variant_get(event, "$.amount", "string").try_cast("decimal(18,2)")
    currency = F.try_variant_get(event, "$.currency", "string")
    rate = fx_rate(currency, rates)
    checks.append((amount.isNotNull() & rate.isNotNull()
                   & amount_eur_at(amount, rate).isNull(), "invalid_amount"))
    # `oversized` and `malformed_json` come alone: every other check requires an object, and
    # an oversized record is never parsed. One flat array, no CASE around the checks: inside
    # a conditional branch Spark does not share the checks' common variant lookups, and that
    # measured 5 times slower.
    checks = [(oversized, "oversized"), (~oversized & ~is_object, "malformed_json"), *checks]
    found = F.array(*[F.when(F.coalesce(condition, F.lit(False)), F.lit(reason))
                      for condition, reason in checks])
    # Distinct and without NULLs. Not filter(found, r -> r IS NOT NULL): a higher-order
    # function is interpreted, and it drags its whole argument (every check above) out of
    # generated code with it: 6 times slower, measured.
    return F.array_except(found, F.array(F.lit(None).cast("string")))
