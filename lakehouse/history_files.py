"""History files (CSV, Parquet, JSON lines) read as contract-shaped payment events.

Columns named as the contract pass through; other names are mapped with
`--map source=target` (targets may be nested, e.g. `lat=location.lat`).
Values are normalised to the contract's types (amount as a 2-place decimal
string, timestamp as ISO-8601 UTC) but never repaired: a row that breaks the
contract is kept as it is, for silver to quarantine. Columns `scenario` and
`fault`, if present, become headers and leave the payload. The producer replays
these events; the history import and the label loader read the same files.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lakehouse.errors import PaystreamError
from lakehouse.event_contract import event_schema, format_event_time

LABEL_COLUMNS = ("scenario", "fault", "scenario_id")
_LOCATION_FIELDS = ("country", "city", "lat", "lon")


def parse_mapping(text: str | None) -> dict[str, str]:
    """Parse `src=dst,src2=dst2` into a dict, checking every target is a contract field."""
    if not text:
        return {}
    fields = set(event_schema()["properties"]) | {f"location.{f}" for f in _LOCATION_FIELDS}
    fields |= set(LABEL_COLUMNS)
    mapping = {}
    for pair in text.split(","):
        source, sep, target = pair.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise PaystreamError(f"--map entry {pair!r} is not source=target")
        if target.strip() not in fields:
            raise PaystreamError(f"--map target {target.strip()!r} is not a contract field")
        mapping[source.strip()] = target.strip()
    return mapping


def iter_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a CSV, Parquet or JSON-lines file as dicts, read as they are needed (a file of
    any size takes the memory of one row, or of one Parquet row batch)."""
    if not path.exists():
        raise PaystreamError(f"file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, newline="") as handle:
            yield from csv.DictReader(handle)
    elif suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
            yield from batch.to_pylist()
    elif suffix in (".jsonl", ".ndjson", ".json"):
        with open(path) as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError as error:
                        raise PaystreamError(f"{path}:{number} is not JSON: {error}") from error
    else:
        raise PaystreamError(f"cannot read {path.name}: use .csv, .parquet or .jsonl")


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV, Parquet or JSON-lines file as dicts."""
    return list(iter_rows(path))


def _amount(value: Any) -> Any:
    if isinstance(value, (int, float, Decimal)) or (isinstance(value, str) and value.strip()):
        try:
            return str(Decimal(str(value).strip()).quantize(Decimal("0.01")))
        except InvalidOperation:
            return value
    return value


def _timestamp(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return format_event_time(moment)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return value
        return format_event_time(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return value


def _number(value: Any) -> Any:
    try:
        return float(value) if isinstance(value, str) and value.strip() else value
    except ValueError:
        return value


def to_event(row: dict[str, Any], mapping: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """One row as a contract-shaped event plus its label headers."""
    flat: dict[str, Any] = {}
    for column, value in row.items():
        flat[mapping.get(column, column)] = value
    labels = {k: str(flat.pop(k)) for k in LABEL_COLUMNS if flat.get(k) not in (None, "")}
    for k in LABEL_COLUMNS:
        flat.pop(k, None)
    location = dict(flat.pop("location", None) or {})
    for name in _LOCATION_FIELDS:
        if f"location.{name}" in flat:
            location[name] = flat.pop(f"location.{name}")
    event: dict[str, Any] = {"schema_version": 1}
    for key, value in flat.items():
        event[key] = value
    if "schema_version" in event and isinstance(event["schema_version"], str):
        with contextlib.suppress(ValueError):
            event["schema_version"] = int(event["schema_version"])
    if "amount" in event:
        event["amount"] = _amount(event["amount"])
    if "timestamp" in event:
        event["timestamp"] = _timestamp(event["timestamp"])
    if "merchant_category" in event and isinstance(event["merchant_category"], int):
        event["merchant_category"] = f"{event['merchant_category']:04d}"
    if location:
        for name in ("lat", "lon"):
            if name in location:
                location[name] = _number(location[name])
        event["location"] = location
    order = list(event_schema()["properties"])
    ordered = {k: event[k] for k in order if k in event}
    ordered.update({k: v for k, v in event.items() if k not in ordered})
    return ordered, labels


def chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Consecutive lists of at most `size` rows."""
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
