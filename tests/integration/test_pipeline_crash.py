"""Crash safety under load: the stream SIGKILLed at every kind of moment, then one catch-up run,
and every count holds afterwards (PostgreSQL stopped under load: tests/integration/test_demo.py)."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lakehouse.catalog import Catalog
from lakehouse.settings import Settings, load_settings
from spark_jobs import stateful_alerts
from tests.conftest import run_cli
from tests.integration.pipeline_checks import (
    assert_transactions_mirrored,
    batch_alert_ids,
    clear_postgres,
    gold_alert_ids,
    postgres_alert_ids,
    reconcile,
    recreate_topics,
    topic_records,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _commits(path: str) -> int:
    """Commits of a Delta table, or of a streaming query given its checkpoint folder."""
    folder = Path(path)
    if (folder / "_delta_log").exists():
        return len(list((folder / "_delta_log").glob("*.json")))
    if (folder / "commits").exists():
        return len([f for f in (folder / "commits").iterdir() if f.name.isdigit()])
    return 0


def _start_stream(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`paystream stream` in its own process group, its output appended to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "paystream.cli", "stream"], env={**os.environ, **env},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=Path(__file__).resolve().parents[2])


def _start_producer(env: dict[str, str], seed: int) -> subprocess.Popen[str]:
    """A live producer (no count, no duration: it sends until SIGTERM)."""
    return subprocess.Popen(
        [sys.executable, "-m", "paystream.cli", "produce", "--rate", "40", "--fraud-rate",
         "0.05", "--fault-rate", "0.05", "--seed", str(seed), "--quiet"],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2])


def _stop_producer(producer: subprocess.Popen[str]) -> int:
    """SIGTERM the live producer; return how many records the broker acknowledged."""
    producer.send_signal(signal.SIGTERM)
    out, err = producer.communicate(timeout=120)
    assert producer.returncode == 0, err[-2000:]
    match = re.search(r"acknowledged ([\d,]+), errors 0", out)
    assert match, out + err
    return int(match.group(1).replace(",", ""))


def _kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool], log: Path) -> None:
    """Once `ready` holds, SIGKILL the stream's whole process group (Python and its JVM)."""
    deadline = time.monotonic() + 300
    try:
        while not ready():
            assert process.poll() is None, f"stream exited early; see {log}"
            assert time.monotonic() < deadline, f"no progress; see {log}"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _crash_env(lake: Path) -> dict[str, str]:
    """Small batches, a lake trigger of 1 s and 10-second real-time batches: every query
    commits often, so a kill after a query has moved on comes soon after start-up."""
    return {"PAYSTREAM_LAKE_ROOT": str(lake),
            "PAYSTREAM_PIPELINE__MAX_OFFSETS_PER_TRIGGER": "1000",
            "PAYSTREAM_PIPELINE__MAX_FILES_PER_TRIGGER": "6",
            "PAYSTREAM_PIPELINE__LAKE_TRIGGER_S": "1",
            "PAYSTREAM_PIPELINE__REALTIME_BATCH": "10 seconds"}


CATCH_UP_ENV = {"PAYSTREAM_PIPELINE__MAX_OFFSETS_PER_TRIGGER": "50000",
                "PAYSTREAM_PIPELINE__MAX_FILES_PER_TRIGGER": "50"}
"""The catch-up after the kills reads in the default batch sizes: what each killed run left
half done is planned already, and the rest needs no small batches to prove anything."""


def _fresh_pipeline(tmp_path: Path) -> tuple[Path, dict[str, str], Settings, Catalog]:
    """A new lake, its environment and settings; the topics recreated, PostgreSQL emptied."""
    lake = tmp_path / "lake"
    settings = load_settings(lake_root=lake)
    recreate_topics(settings)
    clear_postgres(settings)
    return lake, _crash_env(lake), settings, Catalog(lake)


def _assert_sinks_agree(spark: Any, settings: Settings, catalog: Catalog, sent: int) -> None:
    """Bronze = Kafka; silver ids unique; PostgreSQL alerts = gold alerts = batch alerts."""
    assert topic_records(settings, "transactions") == sent
    reconcile(spark, catalog, sent)  # bronze = sent; silver + quarantine + duplicates = bronze
    silver = spark.read.format("delta").load(catalog.table("silver.transactions"))
    assert silver.count() == silver.select("transaction_id").distinct().count()
    gold = gold_alert_ids(spark, catalog)
    assert gold
    assert postgres_alert_ids(settings) == gold
    assert_transactions_mirrored(spark, settings, catalog)
    assert batch_alert_ids(spark, settings, catalog) == gold


def test_sigkill_at_every_kind_of_moment_under_load_then_one_catch_up_keeps_every_count(
    live_services: Settings, spark, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    lake, env, settings, catalog = _fresh_pipeline(tmp_path)
    producer = _start_producer(env, seed=33)
    # One kill per kind of moment: during start-up, then after each query or table has moved
    # on (the alert path runs ahead of the lake), with a random extra delay. (Ten random
    # picks of seed 2026 killed mid-silver four times and never mid-stateful, mid-instant or
    # mid-gold.)
    moments = random.Random(2026)
    targets = [None, catalog.checkpoint(stateful_alerts.CHECKPOINT),
               catalog.checkpoint("instant"), catalog.checkpoint("alerts_postgres"),
               catalog.table("silver.transactions"), catalog.table("gold.alerts")]
    try:
        for kill, target in enumerate(targets):
            log = tmp_path / f"run{kill}.log"
            launched = time.monotonic()
            before = _commits(target) if target else 0
            extra = moments.uniform(0, 3) if target else moments.uniform(3, 25)
            moved: list[float] = []

            def ready(target: str | None = target, before: int = before,
                      extra: float = extra, launched: float = launched,
                      moved: list[float] = moved) -> bool:
                if target is None:
                    return time.monotonic() - launched >= extra
                if not moved and _commits(target) > before:
                    moved.append(time.monotonic())
                return bool(moved) and time.monotonic() - moved[0] >= extra

            _kill_when(_start_stream(env, log), ready, log)
            assert producer.poll() is None, producer.communicate()
    finally:
        sent = _stop_producer(producer)
    result = run_cli("stream", "--available-now", env={**env, **CATCH_UP_ENV}, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_sinks_agree(spark, settings, catalog, sent)
