"""What a quarantine listing or replay selects, and its one-line refusals (no services)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from lakehouse.errors import PaystreamError
from lakehouse.quarantine import ReplayRequest, replay_id
from paystream.cli import main


def test_a_request_selects_by_reason_day_and_replay_state() -> None:
    assert ReplayRequest().where_sql() == "replayed_at IS NULL"
    assert ReplayRequest(include_replayed=True).where_sql() == "true"
    assert ReplayRequest(reason="too_late", since=date(2026, 12, 1)).where_sql() == (
        "array_contains(reasons, 'too_late') AND quarantine_date >= DATE'2026-12-01' "
        "AND replayed_at IS NULL")


def test_an_unknown_reason_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(PaystreamError, match="unknown reason 'late'.*too_late"):
        ReplayRequest(reason="late")


def test_a_replay_id_says_when_and_what() -> None:
    now = datetime(2026, 12, 6, 13, 45, 7, tzinfo=UTC)
    assert replay_id(now, ReplayRequest(reason="too_late")) == "replay-20261206T134507Z-too_late"
    assert replay_id(now, ReplayRequest()) == "replay-20261206T134507Z-any-reason"


@pytest.mark.parametrize("args, message", [
    (["quarantine", "replay", "--reason", "nope"], "unknown reason 'nope'"),
    (["quarantine", "list", "--since", "yesterday"], "yesterday is not a date"),
    (["quarantine", "purge"], "invalid choice: 'purge'"),
])
def test_wrong_quarantine_flags_are_one_line(args: list[str], message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        code = main(args)
        raise SystemExit(code)
    assert exited.value.code not in (0, None)
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
