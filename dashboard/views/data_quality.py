"""Data quality: the latest Great Expectations result per suite, the history, and Data Docs."""

import streamlit as st

from dashboard import data
from lakehouse.stores import postgres

st.title("Data quality")
settings = data.settings()
dsn = settings.postgres_readonly_url()
latest = data.pg_frame(dsn, postgres.latest_dq_result_per_suite)
if latest.empty:
    st.info("No data-quality run yet. The `data_quality` Airflow DAG runs hourly, or run "
            "`paystream dq`.")
    st.stop()

failing = latest[~latest["success"]]
st.metric("Suites passing", f"{len(latest) - len(failing)} / {len(latest)}")
st.subheader("Latest result per suite")
st.dataframe(latest.drop(columns=["docs_url"]), hide_index=True)
docs = latest["docs_url"].dropna()
if not docs.empty:
    st.markdown(f"Data Docs: [{docs.iloc[0]}]({docs.iloc[0]}) (open from this machine)")
st.subheader("History")
history = data.pg_frame(dsn, postgres.recent_dq_results)
st.dataframe(history, hide_index=True)
