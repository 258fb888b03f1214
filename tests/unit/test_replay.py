"""Replay: CSV, Parquet and JSONL in the contract or mapped, sent in event-time order."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lakehouse.errors import PaystreamError
from lakehouse.event_contract import contract_violations
from lakehouse.history_files import parse_mapping
from producer.replay import replay_records

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CSV = """txn,customer,card,amt,ccy,shop,mcc,when,country,city,lat,lon,channel,label
t-3,u-1,c-1,99.9,EUR,m-1,5411,2026-11-29T10:02:00Z,DE,Berlin,52.52,13.405,pos,legit
t-1,u-2,c-2,12,GBP,m-2,5812,2026-11-29T10:00:00+00:00,GB,London,51.5074,-0.1278,contactless,legit
t-2,u-1,c-1,7500.00,EUR,m-3,5732,2026-11-29T10:01:00Z,DE,Berlin,52.52,13.405,pos,high_amount
t-4,u-3,c-3,5.00,EUR,m-4,5411,not a time,FR,Paris,48.8566,2.3522,pos,
"""
MAPPING = ("txn=transaction_id,customer=user_id,card=card_id,amt=amount,ccy=currency,"
           "shop=merchant_id,mcc=merchant_category,when=timestamp,country=location.country,"
           "city=location.city,lat=location.lat,lon=location.lon,label=scenario")


def test_csv_replay_with_mapping_sends_in_event_time_order(tmp_path: Path) -> None:
    path = tmp_path / "payments.csv"
    path.write_text(CSV)
    records = list(replay_records(path, parse_mapping(MAPPING)))
    events = [json.loads(r.value) for r in records]
    assert [e["transaction_id"] for e in events] == ["t-1", "t-2", "t-3", "t-4"]
    assert [r.key for r in records] == [b"u-2", b"u-1", b"u-1", b"u-3"]
    assert [r.scenario for r in records] == ["legit", "high_amount", "legit", "replay"]
    assert events[0]["amount"] == "12.00" and events[0]["timestamp"] == "2026-11-29T10:00:00.000Z"
    assert events[0]["location"] == {"country": "GB", "city": "London", "lat": 51.5074,
                                     "lon": -0.1278}
    for record in records[:3]:
        assert contract_violations(record.value, NOW) == []
        assert b"label" not in record.value and b"scenario" not in record.value
    # The unparseable timestamp is sent as it is, for silver to quarantine.
    assert {v.reason for v in contract_violations(records[3].value, NOW)} == {"invalid_value"}


def test_parquet_and_jsonl_in_the_contract(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"schema_version": 1, "transaction_id": f"t-{i}", "user_id": "u-1", "card_id": "c-1",
         "amount": f"{10 + i}.00", "currency": "EUR", "merchant_id": "m-1",
         "merchant_category": "5411", "timestamp": f"2026-11-29T10:0{9 - i}:00.000Z",
         "location": {"country": "DE", "city": "Berlin", "lat": 52.52, "lon": 13.405},
         "channel": "pos"}
        for i in range(5)
    ]
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    parquet = tmp_path / "events.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    for path in (jsonl, parquet):
        events = [json.loads(r.value) for r in replay_records(path)]
        assert [e["transaction_id"] for e in events] == ["t-4", "t-3", "t-2", "t-1", "t-0"]
        assert events[0] == rows[4]


@pytest.mark.parametrize(
    ("mapping", "file_name", "message"),
    [("a=nope", "x.csv", "not a contract field"), ("broken", "x.csv", "not source=target"),
     (None, "x.xlsx", "use .csv, .parquet or .jsonl"), (None, "missing.csv", "does not exist")],
)
def test_replay_errors_are_clear(tmp_path: Path, mapping: str | None, file_name: str,
                                 message: str) -> None:
    path = tmp_path / file_name
    if file_name != "missing.csv":
        path.write_text("a,b\n1,2\n")
    with pytest.raises(PaystreamError, match=message):
        list(replay_records(path, parse_mapping(mapping)))


def test_sorting_in_runs_spilled_to_disk_equals_sorting_in_memory(tmp_path: Path) -> None:
    from producer.replay import sorted_events

    path = tmp_path / "payments.csv"
    path.write_text(CSV)
    in_memory = [e["transaction_id"] for e, _ in sorted_events(path, parse_mapping(MAPPING))]
    one_row_runs = [e["transaction_id"]
                    for e, _ in sorted_events(path, parse_mapping(MAPPING), run_rows=1)]
    assert in_memory == one_row_runs == ["t-1", "t-2", "t-3", "t-4"]


def test_rebase_moves_the_newest_event_to_now_and_keeps_the_gaps(tmp_path: Path) -> None:
    path = tmp_path / "payments.csv"
    path.write_text(CSV)
    events = [json.loads(r.value) for r in replay_records(path, parse_mapping(MAPPING),
                                                          rebase_to=NOW)]
    assert [e["timestamp"] for e in events] == [
        "2026-11-29T11:58:00.000Z", "2026-11-29T11:59:00.000Z", "2026-11-29T12:00:00.000Z",
        "not a time"]
