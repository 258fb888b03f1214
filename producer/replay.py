"""Replay payment events from CSV, Parquet or JSON lines, in event-time order.

Columns named as the contract pass through; other names are mapped with
`--map source=target` (targets may be nested, e.g. `lat=location.lat`).
Values are normalised to the contract's types (amount as a 2-place decimal
string, timestamp as ISO-8601 UTC) but never repaired: a row that breaks the
contract is sent as it is, for silver to quarantine. Columns `scenario` and
`fault`, if present, become headers and leave the payload.
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
from lakehouse.event_contract import event_schema
from producer.clock import format_event_time
from producer.generator import ProducedRecord, encode

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


def _sort_key(event: dict[str, Any]) -> tuple[int, str]:
    stamp = event.get("timestamp")
    if isinstance(stamp, str):
        try:
            moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            return (0, moment.astimezone(UTC).isoformat())
        except ValueError:
            pass
    return (1, "")


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


Pair = tuple[dict[str, Any], dict[str, str]]


def _read_run(path: Path) -> Iterator[tuple[list[Any], dict[str, Any], dict[str, str]]]:
    with open(path) as handle:
        for line in handle:
            key, event, labels = json.loads(line)
            yield key, event, labels


def sorted_events(path: Path, mapping: dict[str, str],
                  run_rows: int = 100_000) -> Iterator[Pair]:
    """The file's (event, labels) in event-time order (unparseable times last, file order
    among equals), holding at most `run_rows` rows in memory, each as its JSON line: sorted
    runs are spilled to temporary files and merged (an external merge sort)."""
    import heapq
    import tempfile

    with tempfile.TemporaryDirectory(prefix="paystream-replay-") as folder:
        runs: list[Path] = []
        for number, rows in enumerate(chunks(iter_rows(path), run_rows)):
            lines = []
            for row in rows:
                event, labels = to_event(row, mapping)
                key = _sort_key(event)
                lines.append((key, json.dumps([list(key), event, labels], default=str)))
            del rows
            lines.sort(key=lambda item: item[0])
            run = Path(folder) / f"run-{number}.jsonl"
            with open(run, "w") as out:
                out.writelines(line + "\n" for _, line in lines)
            del lines
            runs.append(run)
        for _, event, labels in heapq.merge(*(_read_run(run) for run in runs),
                                            key=lambda item: item[0]):
            yield event, labels


def newest_event_time(path: Path, mapping: dict[str, str]) -> datetime | None:
    """The latest readable event time in the file (one streamed pass)."""
    newest: datetime | None = None
    for row in iter_rows(path):
        key = _sort_key(to_event(row, mapping)[0])
        if key[0] == 0:
            moment = datetime.fromisoformat(key[1])
            newest = moment if newest is None or moment > newest else newest
    return newest


def rebased(event: dict[str, Any], shift: Any) -> dict[str, Any]:
    """The event with its time moved by `shift` (a timedelta); an unreadable time is kept."""
    key = _sort_key(event)
    if key[0] != 0:
        return event
    return {**event, "timestamp": format_event_time(datetime.fromisoformat(key[1]) + shift)}


def replay_records(path: Path, mapping: dict[str, str] | None = None,
                   rebase_to: datetime | None = None,
                   run_rows: int = 100_000) -> Iterator[ProducedRecord]:
    """The file's events as Kafka records, in event-time order (unparseable times last),
    streamed; with `rebase_to`, every time shifts so the newest event happens then."""
    mapping = mapping or {}
    shift = None
    if rebase_to is not None:
        newest = newest_event_time(path, mapping)
        shift = (rebase_to - newest) if newest is not None else None
    for event, labels in sorted_events(path, mapping, run_rows):
        if shift is not None:
            event = rebased(event, shift)
        scenario = labels.get("scenario", "replay")
        headers = [("scenario", scenario.encode())]
        if "scenario_id" in labels:
            headers.append(("scenario_id", labels["scenario_id"].encode()))
        fault = labels.get("fault")
        if fault:
            headers.append(("fault", fault.encode()))
        key = str(event.get("user_id", "")).encode()
        yield ProducedRecord(key, encode(event), headers, scenario, fault)
