"""Crash safety: SIGKILL the running pipeline twice mid-stream, restart, and every count holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lakehouse.catalog import Catalog
from lakehouse.settings import PipelineSettings, Settings, load_settings
from producer.main import ProduceRequest, run_produce
from spark_jobs import stateful_alerts
from tests.conftest import run_cli
from tests.integration.pipeline_checks import (
    batch_alert_ids,
    clear_postgres,
    gold_alert_ids,
    postgres_alert_ids,
    reconcile,
    recreate_topics,
)

pytestmark = pytest.mark.integration

EVENTS = 6_000


def _commits(path: str) -> int:
    """Commits of a Delta table, or of a streaming query given its checkpoint folder."""
    folder = Path(path)
    if (folder / "_delta_log").exists():
        return len(list((folder / "_delta_log").glob("*.json")))
    if (folder / "commits").exists():
        return len([f for f in (folder / "commits").iterdir() if f.name.isdigit()])
    return 0


def _kill_after_progress(env: dict[str, str], table_path: str, log: Path,
                         commits_wanted: int) -> None:
    """Start `paystream stream`, wait until a table has grown, then SIGKILL the whole group."""
    before = _commits(table_path)
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "lakehouse.cli", "stream"], env={**os.environ, **env},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=Path(__file__).resolve().parents[2])
    deadline = time.monotonic() + 300
    try:
        while _commits(table_path) < before + commits_wanted:
            assert process.poll() is None, f"stream exited early; see {log}"
            assert time.monotonic() < deadline, f"no progress on {table_path}; see {log}"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_sigkill_twice_then_restart_keeps_every_count(
    live_services: Settings, spark, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    lake = tmp_path / "lake"
    env = {"PAYSTREAM_LAKE_ROOT": str(lake),
           "PAYSTREAM_PIPELINE__MAX_OFFSETS_PER_TRIGGER": "1000",
           "PAYSTREAM_PIPELINE__MAX_FILES_PER_TRIGGER": "6",
           "PAYSTREAM_PIPELINE__LAKE_TRIGGER_S": "1"}
    settings = load_settings(lake_root=lake, pipeline=PipelineSettings(
        max_offsets_per_trigger=1000, max_files_per_trigger=6))
    catalog = Catalog(lake)
    recreate_topics(settings)
    clear_postgres(settings)
    start = (datetime.now(UTC) - timedelta(minutes=40)).strftime("%Y-%m-%dT%H:%M:%S")
    summary = run_produce(settings, ProduceRequest(
        count=EVENTS, rate=0, seed=33, start=start, speedup=300, fraud_rate=0.05,
        fault_rate=0.05, progress=False))
    assert summary.acknowledged == EVENTS

    # First kill: while the stateful alert query has committed a batch or two (the alert path
    # runs ahead of the lake). Second kill: mid-lake, after two more silver commits.
    _kill_after_progress(env, catalog.checkpoint(stateful_alerts.CHECKPOINT),
                         tmp_path / "run1.log", 1)
    _kill_after_progress(env, catalog.table("silver.transactions"), tmp_path / "run2.log", 2)
    result = run_cli("stream", "--available-now", env=env, timeout=1200)
    assert result.returncode == 0, result.stderr[-2000:]

    outcome = reconcile(spark, catalog, EVENTS)
    assert outcome["duplicate"]["duplicate_removed"] > 0
    gold = gold_alert_ids(spark, catalog)
    assert gold
    assert postgres_alert_ids(settings) == gold
    assert batch_alert_ids(spark, settings, catalog) == gold


def test_sigterm_stops_the_pipeline_cleanly(live_services: Settings, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    log = tmp_path / "stream.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "lakehouse.cli", "stream"],
            env={**os.environ, "PAYSTREAM_LAKE_ROOT": str(lake)}, stdout=out,
            stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2])
    deadline = time.monotonic() + 180
    while "gold: running" not in log.read_text():
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 0, log.read_text()[-2000:]
    assert "stream: bronze, silver, gold stopped" in log.read_text()
