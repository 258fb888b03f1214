"""A seeded corpus of hostile `transactions` records: what a broken or malicious producer sends.

Random bytes, deep nesting, huge strings, wrong types, and values that match the
contract's patterns but not their meaning (2026-02-30, amounts whose EUR value
overflows decimal(18,2)). Each record comes with a valid twin's fields, so a
test can tell which ones may still be valid.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta


def valid_event(rng: random.Random, now: datetime, n: int) -> dict[str, object]:
    """A payment that passes the contract at `now`."""
    stamp = (now - timedelta(seconds=rng.randint(0, 600))).isoformat(timespec="milliseconds")
    return {
        "schema_version": 1, "transaction_id": f"tx-hostile-{n}-{rng.getrandbits(40):x}",
        "user_id": f"u-hostile-{rng.randint(0, 50)}", "card_id": f"c-{rng.getrandbits(32):x}",
        "amount": f"{rng.randint(1, 900)}.{rng.randint(0, 99):02d}",
        "currency": rng.choice(["EUR", "USD", "CHF", "JPY"]),
        "merchant_id": f"m-{rng.randint(0, 30)}", "merchant_category": "5411",
        "timestamp": stamp[:23] + "Z",
        "location": {"country": "DE", "city": "Berlin", "lat": 52.5, "lon": 13.4},
        "channel": rng.choice(["pos", "ecommerce"]),
    }


def _mutations(rng: random.Random, event: dict[str, object]) -> list[object]:
    depth = rng.choice([200, 1_500, 5_000])
    deep = '{"a":' * depth + "[" * depth + "1" + "]" * depth + "}" * depth
    valid_text = json.dumps(event)
    return [
        bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 400))),
        b"",
        b"\xef\xbb\xbf" + json.dumps(event).encode(),
        b"\xff\xfe\xfd" * 10,
        json.dumps(event).encode()[: rng.randint(1, 80)],
        {**event, "timestamp": "2026-02-30T10:00:00Z"},
        {**event, "timestamp": "2026-13-01T10:00:00Z"},
        {**event, "timestamp": "2026-11-29T24:00:00Z"},
        {**event, "timestamp": "2026-11-29T23:59:60Z"},
        {**event, "timestamp": "9999-12-31T23:59:59.999999Z"},
        {**event, "timestamp": "0001-01-01T00:00:00Z"},
        {**event, "amount": "9999999999999999.99", "currency": "CHF"},
        {**event, "amount": "9999999999999999.99", "currency": "EUR"},
        {**event, "amount": "00000000000000001"},
        {**event, "amount": "1e5"},
        {**event, "amount": "NaN"},
        {**event, "amount": 10**40},
        {**event, "amount": None},
        {**event, "schema_version": 10**30},
        {**event, "schema_version": 1.0},
        {**event, "schema_version": True},
        {**event, "location": {**event["location"], "lat": 1e308 * 10}},  # type: ignore[dict-item]
        {**event, "location": {**event["location"], "lat": 91}},  # type: ignore[dict-item]
        {**event, "location": [1, 2]},
        {**event, "location": None},
        {**event, "merchant_category": "0000"},
        {**event, "merchant_category": "٣٤٥٦"},  # Arabic-Indic digits match \\d in some engines
        {**event, "transaction_id": "x" * 100_000},
        {**event, "location": {**event["location"], "city": "x" * 3_000_000}},  # type: ignore[dict-item]
        {**event, "user_id": "\u0000\ud7ff\U0010ffff"},
        {**event, "channel": {"$ne": None}},
        (valid_text[:-1] + ', "extra": ' + deep + "}").encode(),
        deep.encode(),
        [event],
        "just a string",
        None,
        12345,
    ]


def hostile_values(seed: int = 7, now: datetime | None = None) -> list[bytes | None]:
    """The corpus: raw Kafka values (None = a tombstone), mostly invalid, some oddly valid."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    values: list[bytes | None] = []
    for n, mutation in enumerate(_mutations(rng, valid_event(rng, now, 0))):
        if mutation is None and n > 30:
            values.append(None)
        elif isinstance(mutation, bytes):
            values.append(mutation)
        else:
            text = json.dumps(mutation, allow_nan=True, ensure_ascii=rng.random() < 0.5)
            values.append(text.encode("utf-8", "surrogatepass"))
    duplicate_keys = json.dumps(valid_event(rng, now, 1))[:-1] + ', "amount": "1.00"}'
    values.append(duplicate_keys.encode())
    return values
