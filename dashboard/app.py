"""Paystream's live dashboard: `paystream dashboard` (streamlit run on loopback).

Seven pages; each reads PostgreSQL through the read-only role and the Delta
tables through DuckDB (dashboard/data.py).
"""

import streamlit as st

st.set_page_config(page_title="Paystream", page_icon="💳", layout="wide")
PAGES = [
    st.Page("views/live_alerts.py", title="Live alerts", url_path="live_alerts", default=True),
    st.Page("views/volume.py", title="Volume and alerts over time", url_path="volume"),
    st.Page("views/daily_reports.py", title="Daily reports", url_path="daily_reports"),
    st.Page("views/data_quality.py", title="Data quality", url_path="data_quality"),
    st.Page("views/pipeline_health.py", title="Pipeline health", url_path="pipeline_health"),
    st.Page("views/backtests.py", title="Backtests", url_path="backtests"),
    st.Page("views/review_queue.py", title="Review queue", url_path="review_queue"),
]
st.navigation(PAGES).run()
