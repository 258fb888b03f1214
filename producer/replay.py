"""Replay payment events from CSV, Parquet or JSON lines, in event-time order.

Reading and mapping a file is lakehouse.history_files; this module orders the
events by event time (in sorted runs, so any size fits in memory) and sends them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lakehouse.event_contract import format_event_time
from lakehouse.history_files import chunks, iter_rows, to_event
from producer.generator import ProducedRecord, encode


def _sort_key(event: dict[str, Any]) -> tuple[int, str]:
    stamp = event.get("timestamp")
    if isinstance(stamp, str):
        try:
            moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            return (0, moment.astimezone(UTC).isoformat())
        except ValueError:
            pass
    return (1, "")


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
