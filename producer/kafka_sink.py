"""Send produced records to Kafka with kafka-python: acks=all, idempotence, batching.

The only module of the producer that does I/O. Failures are never silent: a
record the broker did not acknowledge after the client's retries is counted,
stops the run, and is written to a spill file that `--replay` can send again.
"""

from __future__ import annotations

import base64
import itertools
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from lakehouse.errors import PaystreamError
from lakehouse.settings import KafkaSettings
from producer.generator import ProducedRecord

# Delivery guarantees every platform shares; compression, sizes, timeouts and ages come
# from the settings' client profile (`KafkaSettings.producer_config`).
PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "metrics_enabled": False,
    "allow_auto_create_topics": False,
    "max_block_ms": 30_000,
}


@dataclass
class ProduceSummary:
    """Totals of one run: sent, acknowledged, by scenario, by fault, and errors."""

    topic: str
    sent: int = 0
    errors: int = 0
    by_scenario: Counter[str] = field(default_factory=Counter)
    by_fault: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    first_error: str | None = None
    interrupted: bool = False
    terminated: bool = False
    spill_file: Path | None = None
    value_bytes: int = 0

    @property
    def acknowledged(self) -> int:
        """Records the broker acknowledged (all sent minus the failed ones)."""
        return self.sent - self.errors

    @property
    def rate(self) -> float:
        """Events per second over the run."""
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def lines(self) -> list[str]:
        """The human-readable summary printed at the end of a run."""
        out = [
            f"topic {self.topic}: sent {self.sent:,}, acknowledged {self.acknowledged:,}, "
            f"errors {self.errors:,} in {self.elapsed_s:.1f} s ({self.rate:,.0f} events/s)"
            + (" — stopped by SIGTERM" if self.terminated
               else " — interrupted" if self.interrupted else ""),
            "by scenario: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_scenario.items())),
        ]
        if self.by_fault:
            out.append("by fault:    " + ", ".join(
                f"{k} {v:,}" for k, v in sorted(self.by_fault.items())))
        if self.first_error:
            out.append(f"first error: {self.first_error}")
        if self.spill_file:
            out.append(f"unacknowledged records saved to {self.spill_file}")
        return out


def cached_key_partitioner() -> Any:
    """Kafka's default key partitioner (murmur2, as in the Java client) with a memo per key.

    Keys are user ids from a bounded population, so each hash is computed once;
    the partition count is read on every call, so growing a topic stays safe.
    """
    from kafka.partitioner.default import DefaultPartitioner, murmur2

    class CachedKeyPartitioner(DefaultPartitioner):  # type: ignore[misc]
        _hash = staticmethod(lru_cache(maxsize=2_000_000)(lambda key: murmur2(key) & 0x7FFFFFFF))

        def partition(self, topic: str, key: bytes | None, serialized_key: bytes | None,
                      value: Any, serialized_value: Any, cluster: Any) -> int:
            partitions = cluster.partitions_for_topic(topic)
            if serialized_key is None or not partitions:
                return int(super().partition(topic, key, serialized_key, value,
                                             serialized_value, cluster))
            return int(self._hash(serialized_key)) % len(partitions)

    return CachedKeyPartitioner()


def make_producer(kafka: KafkaSettings, **overrides: Any) -> Any:
    """A kafka-python producer with the project's delivery and security settings."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    config = {**kafka.producer_config(), "partitioner": cached_key_partitioner(),
              **PRODUCER_DEFAULTS, **overrides}
    try:
        return KafkaProducer(client_id="paystream-producer", **config)
    except (KafkaError, OSError) as error:
        raise PaystreamError(
            f"cannot reach Kafka at {kafka.bootstrap_servers} ({type(error).__name__}): "
            "start it with `paystream up`, or check PAYSTREAM_KAFKA__SECURITY_PROTOCOL and "
            "the SASL settings"
        ) from error


class _Failures:
    """Collects records whose delivery failed after the client's retries."""

    def __init__(self) -> None:
        self.records: list[tuple[ProducedRecord, str]] = []

    def on_error(self, error: BaseException, record: ProducedRecord) -> None:
        self.records.append((record, f"{type(error).__name__}: {error}"))


class _Progress:
    """A rich progress line on a terminal, or a plain line every few seconds otherwise."""

    def __init__(self, total: int | None, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._progress = None
        self._task = None
        self._last_line = time.monotonic()
        self._last_update = 0.0
        if enabled and self.tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("producing"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:>10} ev/s"), TextColumn("{task.fields[tags]}"),
                TimeElapsedColumn(), transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("produce", total=total, rate="-", tags="")

    def update(self, summary: ProduceSummary) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last_update < 0.1:
            return
        self._last_update = now
        fraud = sum(v for k, v in summary.by_scenario.items() if k != "legit")
        faults = sum(summary.by_fault.values())
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=summary.sent,
                                  rate=f"{summary.rate:,.0f}",
                                  tags=f"fraud {fraud:,} faults {faults:,}")
        elif time.monotonic() - self._last_line >= 5:
            self._last_line = time.monotonic()
            print(f"… sent {summary.sent:,} ({summary.rate:,.0f} ev/s), fraud {fraud:,}, "
                  f"faults {faults:,}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def write_spill_file(folder: Path, failures: list[tuple[ProducedRecord, str]]) -> Path:
    """Save unacknowledged records as JSON lines (value base64) so nothing is lost."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"unacknowledged-{time.strftime('%Y%m%dT%H%M%S')}.jsonl"
    with open(path, "w") as out:
        for record, error in failures:
            out.write(json.dumps({
                "key": record.key.decode(errors="replace"),
                "value_base64": base64.b64encode(record.value).decode(),
                "headers": {k: v.decode(errors="replace") for k, v in record.headers},
                "error": error,
            }) + "\n")
    return path


def _delivery_timeout_ms(producer: Any) -> float:
    """How long the producer may take to deliver a record (its own config, else 30 s)."""
    config = getattr(producer, "config", None)
    return float(config.get("delivery_timeout_ms", 30_000)) if isinstance(config, dict) \
        else 30_000.0


def send_records(
    records: Iterable[ProducedRecord],
    producer: Any,
    topic: str,
    *,
    rate: float = 0.0,
    duration_s: float | None = None,
    spill_dir: Path,
    progress: bool = True,
    total: int | None = None,
    stop: threading.Event | None = None,
) -> ProduceSummary:
    """Send records at a steady rate (0 = as fast as possible) until exhausted, out of time
    or `stop` is set."""
    from kafka.errors import KafkaError

    summary = ProduceSummary(topic=topic)
    failures = _Failures()
    bar = _Progress(total, progress)
    send, on_error = producer.send, failures.on_error
    by_scenario, by_fault = summary.by_scenario, summary.by_fault
    started = time.perf_counter()
    deadline = started + duration_s if duration_s else None
    sent = 0
    value_bytes = 0
    # Records are built a chunk at a time, then sent: alternating the two in
    # larger steps measured faster than one record at a time (`paystream bench`).
    chunk_size = 1024 if rate <= 0 else max(1, min(1024, int(rate / 50)))
    iterator = iter(records)
    record: ProducedRecord | None = None
    try:
        while True:
            chunk = list(itertools.islice(iterator, chunk_size))
            if not chunk:
                break
            for record in chunk:
                send(topic, key=record.key, value=record.value,
                     headers=record.headers).add_errback(on_error, record)
                sent += 1
                value_bytes += len(record.value)
                by_scenario[record.scenario] += 1
                if record.fault is not None:
                    by_fault[record.fault] += 1
                if rate > 0:
                    ahead = started + sent / rate - time.perf_counter()
                    if ahead > 0.002:
                        time.sleep(ahead)
            now = time.perf_counter()
            summary.sent, summary.elapsed_s = sent, now - started
            if failures.records or (deadline is not None and now >= deadline):
                break
            if stop is not None and stop.is_set():
                summary.terminated = True
                break
            bar.update(summary)
    except KeyboardInterrupt:
        summary.interrupted = True
    except KafkaError as error:  # send() itself gave up (buffer full or no metadata in time)
        if record is not None:
            sent += 1
            failures.records.append((record, f"{type(error).__name__}: {error}"))
    finally:
        summary.sent, summary.value_bytes = sent, value_bytes
        try:
            producer.flush(timeout=_delivery_timeout_ms(producer) / 1000 + 5)
        except KafkaError as error:
            summary.first_error = summary.first_error or f"flush: {error}"
        except KeyboardInterrupt:
            summary.interrupted = True
        summary.elapsed_s = time.perf_counter() - started
        bar.close()
    if failures.records:
        summary.errors = len(failures.records)
        summary.first_error = failures.records[0][1]
        summary.spill_file = write_spill_file(spill_dir, failures.records)
    return summary
