"""Fixtures shared by the integration modules that need a lake the pipeline has filled."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakehouse.catalog import Catalog
from lakehouse.settings import PipelineSettings, Settings, load_settings
from producer.main import ProduceRequest, run_produce
from spark_jobs.pipeline import LAYERS, run_pipeline
from tests.integration.pipeline_checks import clear_postgres, recreate_topics

EVENTS = 4_000


@dataclass
class Lake:
    """The fixture's lake, its two report dates and the settings pointing at it."""

    settings: Settings
    catalog: Catalog
    days: tuple[date, date]
    spark: Any


def _midnight_with_data_both_sides(now: datetime) -> datetime:
    """A midnight at least 90 minutes ago, so 35 minutes of events after it are in the past."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if now - midnight > timedelta(minutes=90) else midnight - timedelta(days=1)


@pytest.fixture(scope="session")
def lake(live_services: Settings, spark,  # type: ignore[no-untyped-def]
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """A lake filled by the pipeline from events around a midnight, and each of its two days
    backfilled once (gold.daily_report); env points Airflow and the project's settings at it
    for the rest of the session."""
    from spark_jobs.daily_report import run as backfill_day

    root = tmp_path_factory.mktemp("orchestration") / "lake"
    saved = dict(os.environ)
    os.environ["PAYSTREAM_LAKE_ROOT"] = str(root)
    settings = load_settings(lake_root=root, pipeline=PipelineSettings(
        max_offsets_per_trigger=2_000))
    from paystream.runtime.airflow_server import airflow_env

    os.environ.update({k: v for k, v in airflow_env(settings).items() if k.startswith("AIRFLOW")})
    # Airflow's database is migrated in its own process while the pipeline fills the lake.
    migrating = subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                                 env=os.environ.copy(), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
    recreate_topics(settings)
    clear_postgres(settings)
    midnight = _midnight_with_data_both_sides(datetime.now(UTC))
    start = (midnight - timedelta(minutes=33)).strftime("%Y-%m-%dT%H:%M:%S")
    # speedup 1000 at rate 0: one simulated second per event, ~67 minutes around midnight
    summary = run_produce(settings, ProduceRequest(
        count=EVENTS, rate=0, seed=8, start=start, speedup=1000, fraud_rate=0.05,
        fault_rate=0.03, progress=False))
    assert summary.acknowledged == EVENTS
    run_pipeline(spark, settings, LAYERS, available_now=True)
    days = ((midnight - timedelta(days=1)).date(), midnight.date())
    for day in days:
        backfill_day(spark, settings, day)
    output, _ = migrating.communicate(timeout=600)
    assert migrating.returncode == 0, output.decode(errors="replace")[-3000:]
    yield Lake(settings, Catalog(root), days, spark)
    os.environ.clear()
    os.environ.update(saved)


