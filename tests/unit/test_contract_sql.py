"""The contract as Spark SQL: total on hostile input, and equal to the Python reference check."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from lakehouse.event_contract import contract_violations
from lakehouse.fx import eur_per_unit
from producer.generator import GeneratorOptions, PaymentStream
from tests.hostile_records import hostile_values

NOW = datetime.now(UTC).replace(microsecond=0)


def _sql_reasons(spark, values: list[bytes | None]) -> list[set[str]]:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    from spark_jobs.contract_check import contract_reasons, parse_event

    frame = spark.createDataFrame([(i, v, NOW) for i, v in enumerate(values)],
                                  "i int, value binary, ts timestamp")
    out = frame.select("i", contract_reasons(parse_event(F.col("value")), F.col("value"),
                                             F.col("ts"), eur_per_unit()).alias("r")).collect()
    return [set(row["r"]) for row in sorted(out, key=lambda row: row["i"])]


def _python_reasons(value: bytes | None) -> set[str]:
    if value is None:
        return {"malformed_json"}
    return {v.reason for v in contract_violations(value, NOW)}


def test_sql_check_equals_the_python_reference_on_every_producer_fault(spark) -> None:  # type: ignore[no-untyped-def]
    records = list(itertools.islice(
        PaymentStream(GeneratorOptions(seed=11, fault_rate=0.5, start=NOW)), 1500))
    values = [r.value for r in records]
    sql = _sql_reasons(spark, values)
    mismatches = [(v[:120], p, s) for v, s in zip(values, sql, strict=True)
                  if (p := _python_reasons(v)) != s]
    assert not mismatches, mismatches[:5]
    assert sum(1 for s in sql if not s) > 500 and sum(1 for s in sql if s) > 300


def test_sql_check_is_total_and_agrees_on_hostile_records(spark) -> None:  # type: ignore[no-untyped-def]
    values = hostile_values(seed=3, now=NOW)
    sql = _sql_reasons(spark, values)
    assert all(isinstance(s, set) for s in sql)
    # Where the two checks part, the SQL check is the stricter one (duplicate keys, a BOM).
    for value, reasons in zip(values, sql, strict=True):
        python = _python_reasons(value)
        if python != reasons:
            assert reasons == {"malformed_json"}, (value and value[:120], python, reasons)
    [no_such_day] = [s for v, s in zip(values, sql, strict=True) if v and b"2026-02-30" in v]
    assert no_such_day == {"invalid_value"}  # matches the contract's pattern, names no day
    # Oddly valid, by design: the largest EUR amount, MCC 0000, control characters in an id.
    valid = [v[:200] for v, s in zip(values, sql, strict=True) if not s]
    assert len(valid) <= 5, valid


@pytest.mark.parametrize(("amount", "currency", "reason"), [
    ("9999999999999999.99", "CHF", "invalid_amount"),  # its EUR value overflows decimal(18,2)
    ("9999999999999999.99", "EUR", None),
    ("0.00", "EUR", "non_positive_amount"),
    ("12.345", "EUR", "invalid_amount"),
])
def test_amounts_valid_only_when_silver_can_hold_them(
    spark, amount: str, currency: str, reason: str | None  # type: ignore[no-untyped-def]
) -> None:
    import json

    from tests.unit.test_event_contract import VALID

    event = {**VALID, "amount": amount, "currency": currency,
             "timestamp": NOW.isoformat(timespec="milliseconds")[:23] + "Z"}
    [reasons] = _sql_reasons(spark, [json.dumps(event).encode()])
    assert reasons == ({reason} if reason else set())
