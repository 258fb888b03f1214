"""Volume and alerts over time: per minute or per hour, by rule, by currency and by country."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.charts import time_chart
from lakehouse.stores import postgres

st.title("Volume and alerts over time")
settings = data.settings()
bucket = st.radio("Bucket", ["minute", "hour"], horizontal=True)
hours = st.select_slider("Window (hours)", [1, 6, 24, 72, 168], value=24)
since = datetime.now(UTC) - timedelta(hours=hours)


@st.cache_data(ttl=10, show_spinner=False)
def alerts_over_time(dsn: str, bucket: str, hours: int) -> pd.DataFrame:
    """Alerts per bucket and rule (cached for 10 s)."""
    return data.pg_frame(dsn, postgres.alerts_per_bucket, bucket, hours)


@st.cache_data(ttl=30, show_spinner=False)
def volume(lake: str, bucket: str, by: str, since: datetime) -> pd.DataFrame:
    """Payments per bucket split by currency or country (cached for 30 s)."""
    return data.lake_frame(lake, data.volume_over_time_sql(bucket, by), [since])


st.subheader("Alerts by rule")
alerts = alerts_over_time(settings.postgres_readonly_url(), bucket, hours)
if alerts.empty:
    st.info("No alerts in this window yet. Start `paystream produce` and `paystream stream`, "
            "or widen the window.")
else:
    st.altair_chart(time_chart(alerts, "bucket", "alerts", "rule_id", bucket=bucket),
                    width="stretch")

minute_since = since.replace(second=0, microsecond=0)
for by in ("currency", "country"):
    st.subheader(f"Payments by {by}")
    frame = volume(str(settings.lake_location), bucket, by, minute_since)
    if frame.empty:
        st.info("No payments in silver for this window yet (`paystream stream` lands them).")
    else:
        st.altair_chart(time_chart(frame, "bucket", "payments", by, mark="area", bucket=bucket),
                        width="stretch")
