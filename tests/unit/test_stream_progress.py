"""Query progress from checkpoint files: offsets parsing, lag, records/s."""

import os
from pathlib import Path

import pytest

from lakehouse.stream_progress import lag, parse_offsets, query_progress, recent_rate

OFFSET_FILE = ('v1\n{"batchWatermarkMs":0,"batchTimestampMs":1,"conf":{}}\n'
               '{"transactions":{"0":%d,"1":%d}}')


def test_parse_offsets_finds_the_topic_line() -> None:
    assert parse_offsets(OFFSET_FILE % (5, 7), "transactions") == {0: 5, 1: 7}
    assert parse_offsets(OFFSET_FILE % (5, 7), "alerts") is None
    assert parse_offsets("v1\n{}\nnot json", "transactions") is None


def test_lag_counts_only_records_beyond_the_commit() -> None:
    assert lag({0: 10, 1: 20, 2: 5}, {0: 10, 1: 15}) == 0 + 5 + 5
    assert lag({0: 10}, {0: 12}) == 0  # a commit ahead of a stale end offset is no lag


@pytest.mark.parametrize(
    ("points", "window_s", "expected"),
    [
        ([], 60, None),
        ([(100.0, 50)], 60, None),
        ([(100.0, 0), (110.0, 100)], 60, 10.0),
        ([(0.0, 0), (100.0, 500), (110.0, 600)], 60, 10.0),   # the oldest point is outside
        ([(0.0, 0), (200.0, 1000)], 60, 5.0),                 # nothing inside: the previous one
        ([(5.0, 0), (5.0, 10)], 60, None),
    ],
)
def test_recent_rate(points: list[tuple[float, int]], window_s: float,
                     expected: float | None) -> None:
    assert recent_rate(points, window_s) == expected


def _commit(checkpoint: Path, batch: int, offsets: tuple[int, int], at: float) -> None:
    for folder in ("offsets", "commits"):
        (checkpoint / folder).mkdir(parents=True, exist_ok=True)
    (checkpoint / "offsets" / str(batch)).write_text(OFFSET_FILE % offsets)
    commit = checkpoint / "commits" / str(batch)
    commit.write_text('v1\n{"nextBatchWatermarkMs":0}')
    os.utime(commit, (at, at))


def test_query_progress_reads_the_last_committed_batch(tmp_path: Path) -> None:
    checkpoint = tmp_path / "_checkpoints" / "stateful_stages"
    _commit(checkpoint, 0, (100, 100), 1_000.0)
    _commit(checkpoint, 1, (150, 170), 1_010.0)
    (checkpoint / "offsets" / "2").write_text(OFFSET_FILE % (400, 400))  # started, not committed
    found = {p.query: p for p in query_progress(tmp_path, {"transactions": {0: 200, 1: 200}})}
    stateful = found["stateful"]
    assert stateful.batch == 1
    assert stateful.lag_records == 50 + 30
    assert stateful.records_per_s == pytest.approx(12.0)
    assert found["medallion"].batch is None and found["medallion"].lag_records is None
