"""`paystream quarantine`: list quarantined records, replay them, and each lands exactly once.

Late payments (quarantined `too_late` while the lake query ran) are replayed after the
fact: they land in silver once, their quarantine rows say when and by which replay, and
replaying them again (`--include-replayed`, as after a crash between send and mark) adds
nothing. A record that still breaks the contract is quarantined again, carrying the
replay's header, and its original row is marked; once its currency's rate is in the FX
table the pipeline reads, a replay lands it in silver, once.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lakehouse.catalog import Catalog
from lakehouse.fx import FX_TABLE_PATH
from lakehouse.quarantine import REPLAY_HEADER, REPLAY_OF_HEADER, ReplayRequest
from lakehouse.settings import Settings, load_settings
from spark_jobs.pipeline import run_pipeline
from spark_jobs.quarantine_replay import replay, summary
from tests.conftest import run_cli
from tests.hostile_records import valid_event
from tests.integration.pipeline_checks import (
    clear_postgres,
    recreate_topics,
    rows,
    send_records,
)

pytestmark = pytest.mark.integration




def _lake(spark: Any, settings: Settings) -> None:
    run_pipeline(spark, settings, (), available_now=True, queries=("medallion",))


def test_replayed_late_payments_land_once_and_the_quarantine_remembers(
    live_services: Settings, spark: Any, tmp_path: Any
) -> None:
    settings = load_settings(lake_root=tmp_path / "lake")
    recreate_topics(settings)
    clear_postgres(settings)
    try:
        _replay_late_payments(spark, settings)
    finally:  # later tests read `transactions` from its start: leave it empty
        recreate_topics(settings)


def _replay_late_payments(spark: Any, settings: Settings) -> None:
    catalog = Catalog(settings.lake)
    now = datetime.now(UTC)
    rng = random.Random(7)

    def payment(n: int, age: timedelta) -> dict[str, Any]:
        stamp = (now - age).isoformat(timespec="milliseconds")[:23] + "Z"
        return valid_event(rng, now, n) | {"user_id": "u-replay", "timestamp": stamp}

    on_time = [payment(n, timedelta(minutes=1)) for n in range(3)]
    late = [payment(n, timedelta(hours=3)) for n in range(10, 14)]  # lateness is 30 min
    broken = payment(20, timedelta(minutes=1)) | {"currency": "XTS"}
    send_records(settings, [(b"u-replay", json.dumps(event).encode())
                            for event in [*on_time, *late, broken]])
    _lake(spark, settings)

    silver_ids = [r[0] for r in rows(spark, catalog, "silver.transactions", "transaction_id")]
    assert sorted(silver_ids) == sorted(e["transaction_id"] for e in on_time)
    counts = {(c.reason, c.rows, c.replayed) for c in summary(settings, ReplayRequest())}
    assert counts == {("too_late", 4, 0), ("unknown_currency", 1, 0)}

    listed = run_cli("quarantine", "list", "--reason", "too_late",
                     env={"PAYSTREAM_LAKE_ROOT": str(settings.lake)})
    assert listed.returncode == 0, listed.stderr
    assert "too_late" in listed.stdout and "unknown_currency" not in listed.stdout

    planned = run_cli("quarantine", "replay", "--reason", "too_late", "--dry-run",
                      env={"PAYSTREAM_LAKE_ROOT": str(settings.lake)})
    assert planned.returncode == 0, planned.stderr
    assert "would replay 4 quarantined records to transactions" in planned.stdout
    first = replay(spark, settings, ReplayRequest(reason="too_late"))
    assert first.sent == 4 and first.replay_id.endswith("-too_late")
    _lake(spark, settings)

    silver_ids = [r[0] for r in rows(spark, catalog, "silver.transactions", "transaction_id")]
    assert sorted(silver_ids) == sorted(e["transaction_id"] for e in [*on_time, *late])
    marked = rows(spark, catalog, "silver.quarantine", "primary_reason", "replay_id",
                  "replayed_at")
    assert sorted((m[0], m[1] is not None) for m in marked) == [
        ("too_late", True)] * 4 + [("unknown_currency", False)]
    assert replay(spark, settings, ReplayRequest(reason="too_late")).sent == 0

    # As after a crash between the send and the mark: the same records sent once more.
    again = replay(spark, settings, ReplayRequest(reason="too_late", include_replayed=True))
    assert again.sent == 4
    still = replay(spark, settings, ReplayRequest(reason="unknown_currency"))
    assert still.sent == 1
    _lake(spark, settings)

    silver_ids = [r[0] for r in rows(spark, catalog, "silver.transactions", "transaction_id")]
    assert sorted(silver_ids) == sorted(e["transaction_id"] for e in [*on_time, *late])
    quarantine = rows(spark, catalog, "silver.quarantine", "primary_reason", "headers",
                      "replay_id")
    again_broken = [q for q in quarantine if q[0] == "unknown_currency" and q[2] is None]
    assert len(again_broken) == 1
    headers = {h["key"]: bytes(h["value"]).decode() for h in again_broken[0][1]}
    assert headers[REPLAY_HEADER] == still.replay_id
    assert headers[REPLAY_OF_HEADER].startswith("transactions/")
    counts = {(c.reason, c.rows, c.replayed) for c in summary(settings, ReplayRequest())}
    assert counts == {("too_late", 4, 4), ("unknown_currency", 2, 1)}

    # The currency's rate added to the FX table the pipeline reads: the replay lands it, once.
    fx = settings.lake.parent / "fx_with_xts.csv"  # beside the test's own lake
    fx.write_text(FX_TABLE_PATH.read_text() + "XTS,2.00000000,Test currency\n")
    fixed = load_settings(lake_root=settings.lake, fx_rates_file=fx)
    landed = replay(spark, fixed, ReplayRequest(reason="unknown_currency"))
    assert landed.sent == 1
    _lake(spark, fixed)
    assert replay(spark, fixed, ReplayRequest(reason="unknown_currency",
                                              include_replayed=True)).sent == 2
    _lake(spark, fixed)
    paid = rows(spark, catalog, "silver.transactions", "transaction_id", "currency", "amount",
                "amount_eur")
    xts = [p for p in paid if p[1] == "XTS"]
    assert [p[0] for p in xts] == [broken["transaction_id"]]
    assert xts[0][3] == (xts[0][2] * 2).quantize(xts[0][3])
    assert len(paid) == len(on_time) + len(late) + 1
