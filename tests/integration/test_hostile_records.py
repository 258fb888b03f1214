"""No payload stops the pipeline: hostile records land in bronze and in silver or quarantine.

The corpus (tests/hostile_records.py) holds random bytes, 5,000-deep nesting,
megabyte strings, wrong types, tombstones and values that match a pattern but
name nothing (2026-02-30). It goes through the whole pipeline twice (a second
run on top of the first, as a restart would), beside valid payments, a resend
and a conflicting duplicate.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka import KafkaConsumer

from lakehouse.catalog import Catalog
from lakehouse.settings import PipelineSettings, Settings, load_settings
from spark_jobs.pipeline import LAYERS, run_pipeline
from tests.hostile_records import hostile_values, valid_event
from tests.integration.pipeline_checks import (
    clear_postgres,
    recreate_topics,
    rows,
    send_records,
)

pytestmark = pytest.mark.integration




def _corpus(seed: int, now: datetime) -> list[tuple[bytes | None, bytes | None]]:
    rng = random.Random(seed)
    keys: list[bytes | None] = [None, b"", b"k" * 5_000, b"u-hostile-1"]
    return [(rng.choice(keys), value) for value in hostile_values(seed, now)]


def test_hostile_records_never_stop_the_pipeline_and_nothing_is_lost(
    live_services: Settings, spark: Any, tmp_path: Any
) -> None:
    settings = load_settings(lake_root=tmp_path / "lake",
                             pipeline=PipelineSettings(max_offsets_per_trigger=20))
    catalog = Catalog(settings.lake)
    recreate_topics(settings)
    clear_postgres(settings)
    now = datetime.now(UTC)
    rng = random.Random(1)
    payment = valid_event(rng, now, 1)
    resend = json.dumps(payment).encode()
    conflict = json.dumps({**payment, "amount": "9999.00"}).encode()
    big = valid_event(rng, now, 2) | {"amount": "7500.00", "currency": "EUR"}
    first = [*_corpus(1, now), (b"u-1", resend), (b"u-1", json.dumps(big).encode())]
    second = [*_corpus(2, now), (b"u-1", resend), (b"u-1", conflict)]

    send_records(settings, first)
    run_pipeline(spark, settings, LAYERS, available_now=True)
    send_records(settings, second)
    run_pipeline(spark, settings, LAYERS, available_now=True)

    bronze = {(r["partition"], r["offset"]): r["value"]
              for r in rows(spark, catalog, "bronze.transactions_raw", "partition", "offset",
                            "value")}
    assert len(bronze) == len(first) + len(second)
    silver = {(r["source_partition"], r["source_offset"]): r["transaction_id"]
              for r in rows(spark, catalog, "silver.transactions", "source_partition",
                            "source_offset", "transaction_id")}
    quarantine = {(r["source_partition"], r["source_offset"]): list(r["reasons"])
                  for r in rows(spark, catalog, "silver.quarantine", "source_partition",
                                "source_offset", "reasons")}
    resends = [c for c in bronze if c not in silver and c not in quarantine]
    # Only the identical resend of a landed payment may be absent from both.
    assert [bytes(bronze[c]) for c in resends] == [resend]
    assert payment["transaction_id"] in silver.values()
    assert [r for c, r in quarantine.items() if bytes(bronze[c] or b"") == conflict] == [
        ["conflicting_duplicate"]]
    assert any(r == ["oversized"] for r in quarantine.values())
    assert any(r == ["malformed_json"] for r in quarantine.values())
    assert any("invalid_value" in r for r in quarantine.values())  # 2026-02-30 among them

    # The instant path judged the valid high payment; its alert reached gold.alerts.
    alerts = rows(spark, catalog, "gold.alerts", "rule_id", "transaction_id")
    assert ("high_amount", big["transaction_id"]) in {(a["rule_id"], a["transaction_id"])
                                                      for a in alerts}

    consumer = KafkaConsumer("transactions_dlq",
                             **settings.kafka.python_client_config(),
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=10_000, group_id=None)
    try:
        dead = list(consumer)
    finally:
        consumer.close()
    assert len(dead) == len(quarantine)
    headers = [dict(m.headers) for m in dead]
    assert all(len(m.value or b"") <= 16_384 and len(m.key or b"") <= 1_024 for m in dead)
    cut = [h for h in headers if h["truncated"] == b"true"]
    assert cut and all(int(h["original_bytes"]) > 16_384 for h in cut)
    assert all(h["bronze"] == catalog.table("bronze.transactions_raw").encode() for h in headers)
