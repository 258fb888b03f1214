"""Daily reports: one day's gold.daily_report, read through DuckDB."""

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data

st.title("Daily reports")
settings = data.settings()
dates = data.report_dates(str(settings.lake_location))
if not dates:
    st.info("No daily report yet. The `daily_backfill_report` Airflow DAG writes one per day, "
            "or run `paystream backfill --date YYYY-MM-DD`.")
    st.stop()

day = st.selectbox("Date", dates)
report = data.lake_frame(str(settings.lake_location),
                         "SELECT * FROM gold_daily_report WHERE report_date = ?", [day])
row = report.iloc[0].to_dict()
a, b, c, d = st.columns(4)
a.metric("Payments", f"{int(row['payments']):,}")
b.metric("Amount (EUR)", f"{float(row['amount_eur'] or 0):,.2f}")
c.metric("Streamed alerts", f"{int(row['streamed_alerts']):,}")
d.metric("Only in batch / only streamed",
         f"{int(row['alerts_only_batch'])} / {int(row['alerts_only_streamed'])}")


def table(title: str, items: Any) -> None:
    """One report section as a table (or a note when it is empty)."""
    st.markdown(f"**{title}**")
    items = list(items) if items is not None else []
    if items:
        st.dataframe(pd.DataFrame(items), hide_index=True)
    else:
        st.caption("none")


left, right = st.columns(2)
with left:
    table("By currency", row["by_currency"])
    table("By country", row["by_country"])
    table("Alerts by rule and severity", row["alerts_by_rule"])
with right:
    table("By merchant category (MCC)", row["by_mcc"])
    table("Top users by alerts", row["top_users"])
    table("Top merchants by alerts", row["top_merchants"])
    table("Quarantine by reason", row["quarantine_by_reason"])
