"""Paystream's live dashboard: `paystream dashboard` (streamlit run on loopback).

Eight pages, each at its own URL (the root opens the live alerts); each reads
PostgreSQL through the read-only role and the Delta tables through DuckDB
(dashboard/data.py).
"""

import streamlit as st

st.set_page_config(page_title="Paystream", page_icon="💳", layout="wide")
LIVE_ALERTS = st.Page("views/live_alerts.py", title="Live alerts", url_path="live_alerts")


def _home() -> None:
    """The root URL: switch to the live alerts, which keep their own URL (Streamlit serves a
    default page only at the root, so a pasted /live_alerts would find no page)."""
    st.switch_page(LIVE_ALERTS)


PAGES = [
    st.Page(_home, title="Paystream", url_path="home", default=True, visibility="hidden"),
    LIVE_ALERTS,
    st.Page("views/volume.py", title="Volume and alerts over time", url_path="volume"),
    st.Page("views/daily_reports.py", title="Daily reports", url_path="daily_reports"),
    st.Page("views/data_quality.py", title="Data quality", url_path="data_quality"),
    st.Page("views/pipeline_health.py", title="Pipeline health", url_path="pipeline_health"),
    st.Page("views/backtests.py", title="Backtests", url_path="backtests"),
    st.Page("views/review_queue.py", title="Review queue", url_path="review_queue"),
    st.Page("views/payment_search.py", title="Payment search", url_path="payment_search"),
]
st.navigation(PAGES).run()
