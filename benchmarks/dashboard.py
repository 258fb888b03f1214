"""`paystream bench dashboard`: page render times with a million alerts in PostgreSQL.

Adds 1,000,000 synthetic alerts (ids `bench-…`) to payments.alerts, renders
every page with Streamlit's AppTest (the full script run, queries included)
a number of times, reports p50/p95 per page, then deletes the synthetic rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from lakehouse.settings import Settings

PAGES = ("live_alerts", "volume", "daily_reports", "data_quality", "pipeline_health")
FILL_ALERTS = """
INSERT INTO payments.alerts (alert_id, rule_id, severity, transaction_id, user_id, merchant_id,
                             amount_eur, event_time, detected_at, details)
SELECT 'bench-' || g,
       (ARRAY['high_amount','velocity','card_testing','impossible_travel',
              'compromised_merchant'])[1 + g %% 5],
       (ARRAY['high','medium','high','critical','high'])[1 + g %% 5],
       'tx-bench-' || g, 'u-' || lpad((g %% 100000)::text, 7, '0'),
       'm-' || lpad((g %% 5000)::text, 6, '0'), (g %% 100000) / 10.0,
       now() - make_interval(secs => g * 0.6), now() - make_interval(secs => g * 0.6),
       '{}'::jsonb
FROM generate_series(1, %s) AS g
ON CONFLICT (alert_id) DO NOTHING
"""


@dataclass(frozen=True)
class PageTiming:
    """Render times of one page."""

    page: str
    p50_ms: float
    p95_ms: float
    runs: int


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def bench_dashboard(settings: Settings, alerts: int = 1_000_000,
                    runs: int = 20) -> list[PageTiming]:
    """Fill PostgreSQL with synthetic alerts, time every page, remove them again."""
    from streamlit.testing.v1 import AppTest

    from spark_jobs.io import postgres_connection

    conn = postgres_connection(settings)
    conn.autocommit = True
    pages_dir = Path(__file__).parent / "views"
    try:
        with conn.cursor() as cur:
            cur.execute(FILL_ALERTS, (alerts,))
            cur.execute("ANALYZE payments.alerts")
        timings = []
        for page in PAGES:
            seconds = []
            for _ in range(runs + 1):
                app = AppTest.from_file(str(pages_dir / f"{page}.py"), default_timeout=120)
                started = time.perf_counter()
                app.run()
                seconds.append(time.perf_counter() - started)
            seconds = seconds[1:]  # the first run imports and warms caches
            timings.append(PageTiming(page, _percentile(seconds, 0.5) * 1000,
                                      _percentile(seconds, 0.95) * 1000, runs))
        return timings
    finally:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM payments.alerts WHERE alert_id LIKE 'bench-%'")
        conn.close()
