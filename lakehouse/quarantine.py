"""Replaying quarantined records: what a replay selects and how a replayed record is marked.

A replay re-sends the selected rows of silver.quarantine, their original key, value and
headers, to Kafka `transactions` with two more headers: the replay's id and the record's
source coordinates. The pipeline then judges each one again like any payment (so a record
whose cause was fixed lands in silver, and one that still breaks the contract is
quarantined again), except for the lateness rule: a replayed record is old by nature.
Silver's deduplication by transaction_id makes a record replayed twice land once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from lakehouse.errors import PaystreamError
from lakehouse.event_contract import QUARANTINE_REASONS

REPLAY_HEADER = "paystream-replay"
"""Kafka header naming the replay that re-sent a record (silver exempts it from lateness)."""
REPLAY_OF_HEADER = "paystream-replay-of"
"""Kafka header with the quarantined record's source coordinates: topic/partition/offset."""


@dataclass(frozen=True)
class ReplayRequest:
    """Which quarantined rows a replay (or a listing) selects."""

    reason: str | None = None
    since: date | None = None
    include_replayed: bool = False

    def __post_init__(self) -> None:
        if self.reason is not None and self.reason not in QUARANTINE_REASONS:
            raise PaystreamError(f"unknown reason {self.reason!r}: use one of "
                                 f"{', '.join(QUARANTINE_REASONS)}")

    def where_sql(self) -> str:
        """The SQL predicate (Spark and DuckDB alike) over silver.quarantine that selects the
        request's rows; the table has the replay columns (spark_jobs.quarantine_replay adds
        them before a replay; a listing counts replayed rows too)."""
        terms = []
        if self.reason is not None:
            terms.append(f"array_contains(reasons, '{self.reason}')")
        if self.since is not None:
            terms.append(f"quarantine_date >= DATE'{self.since.isoformat()}'")
        if not self.include_replayed:
            terms.append("replayed_at IS NULL")
        return " AND ".join(terms) or "true"


def replay_id(now: datetime, request: ReplayRequest) -> str:
    """The id a replay's records and marks carry: its UTC start time and what it selected."""
    return f"replay-{now:%Y%m%dT%H%M%S}Z-{request.reason or 'any-reason'}"
