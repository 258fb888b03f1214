"""How far each streaming query has come, read from its checkpoint: lag and records/s.

Lag is the Kafka topic's end offsets minus the offsets of the query's last
committed batch; records/s is the growth of those offsets over recent commits.
A real-time-mode query commits once per real-time batch, so its lag can read
up to that batch's worth of records while its alerts flow within milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lakehouse.catalog import STREAMING_QUERIES, Catalog
from lakehouse.settings import KafkaSettings


@dataclass(frozen=True)
class QueryProgress:
    """One query's committed position, lag behind its topic and recent throughput."""

    query: str
    topic: str
    batch: int | None
    lag_records: int | None
    records_per_s: float | None
    last_commit: datetime | None


def committed_batches(checkpoint: Path) -> list[int]:
    """The ids of the batches a checkpoint has committed, oldest first."""
    try:
        names = [entry.name for entry in (checkpoint / "commits").iterdir()]
    except OSError:
        return []
    return sorted(int(name) for name in names if name.isdigit())


def parse_offsets(text: str, topic: str) -> dict[int, int] | None:
    """The partition offsets of one topic in an offset-log file (pure)."""
    for line in text.splitlines()[2:]:
        try:
            sources = json.loads(line)
        except ValueError:
            continue
        if isinstance(sources, dict) and isinstance(sources.get(topic), dict):
            return {int(p): int(o) for p, o in sources[topic].items()}
    return None


def lag(end_offsets: Mapping[int, int], committed: Mapping[int, int]) -> int:
    """Records in the topic beyond the committed offsets, over every partition (pure)."""
    return sum(max(end - committed.get(partition, 0), 0)
               for partition, end in end_offsets.items())


def recent_rate(points: Sequence[tuple[float, int]], window_s: float) -> float | None:
    """Records/s between the newest point and the oldest within the window (pure).

    A point is (commit time in seconds, total committed offset)."""
    if len(points) < 2:
        return None
    newest_time, newest_total = points[-1]
    inside = [p for p in points[:-1] if newest_time - p[0] <= window_s] or [points[-2]]
    oldest_time, oldest_total = inside[0]
    if newest_time <= oldest_time:
        return None
    return (newest_total - oldest_total) / (newest_time - oldest_time)


def _commit_points(checkpoint: Path, topic: str, batches: list[int]) -> list[tuple[float, int]]:
    points = []
    for batch in batches:
        try:
            offsets = parse_offsets((checkpoint / "offsets" / str(batch)).read_text(), topic)
            moment = (checkpoint / "commits" / str(batch)).stat().st_mtime
        except OSError:  # cleaned up by Spark meanwhile
            continue
        if offsets is not None:
            points.append((moment, sum(offsets.values())))
    return points


def query_progress(lake_root: Path, end_offsets: Mapping[str, Mapping[int, int]],
                   window_s: float = 300.0, recent: int = 30) -> list[QueryProgress]:
    """Every pipeline query's progress against the topics' end offsets."""
    catalog = Catalog(lake_root)
    found = []
    for query, spec in STREAMING_QUERIES.items():
        checkpoint = Path(catalog.checkpoint(spec.checkpoint))
        batches = committed_batches(checkpoint)[-recent:]
        points = _commit_points(checkpoint, spec.topic, batches)
        last = None
        behind = None
        if batches:
            try:
                last = parse_offsets((checkpoint / "offsets" / str(batches[-1])).read_text(),
                                     spec.topic)
            except OSError:
                last = None
        if last is not None and spec.topic in end_offsets:
            behind = lag(end_offsets[spec.topic], last)
        found.append(QueryProgress(
            query, spec.topic, batches[-1] if batches else None, behind,
            recent_rate(points, window_s),
            datetime.fromtimestamp(points[-1][0], UTC) if points else None))
    return found


def topic_end_offsets(kafka: KafkaSettings,
                      topics: Sequence[str]) -> dict[str, dict[int, int]]:
    """The end offset of every partition of the topics (one short-lived consumer)."""
    from kafka import TopicPartition

    from lakehouse.stores.kafka import consumer as kafka_consumer

    consumer = kafka_consumer(kafka, request_timeout_ms=5000)
    try:
        found: dict[str, dict[int, int]] = {}
        for topic in topics:
            partitions = consumer.partitions_for_topic(topic) or set()
            ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
            found[topic] = {tp.partition: offset for tp, offset in ends.items()}
        return found
    finally:
        consumer.close()
