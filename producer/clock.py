"""Event-time clocks: the wall clock for live mode, a virtual clock for fast history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class WallClock:
    """Event time is now, in UTC."""

    def now(self, index: int) -> datetime:
        """The event time of the index-th event: the current wall-clock time."""
        return datetime.now(UTC)


class VirtualClock:
    """Event time starts at `start` and advances a fixed step per event (deterministic)."""

    def __init__(self, start: datetime, step_seconds: float) -> None:
        self.start = start.astimezone(UTC) if start.tzinfo else start.replace(tzinfo=UTC)
        self.step = timedelta(seconds=step_seconds)

    def now(self, index: int) -> datetime:
        """The event time of the index-th event."""
        return self.start + self.step * index


def virtual_step_seconds(rate: float, speedup: float, nominal_rate: float = 1000.0) -> float:
    """Simulated seconds between events: `speedup` simulated seconds pass per wall second."""
    return speedup / (rate if rate > 0 else nominal_rate)
