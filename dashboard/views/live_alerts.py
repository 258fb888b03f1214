"""Live alerts: newest first, refreshed every few seconds, with filters and a detail view."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.charts import time_chart
from lakehouse.rules import SEVERITIES, load_rules
from lakehouse.stores import postgres

REFRESH = "5s"
LIMIT = 200
WINDOWS = {"last 15 minutes": 15, "last hour": 60, "last 24 hours": 1440, "last 7 days": 10080,
           "all time": None}

st.title("Live alerts")
settings = data.settings()
dsn = settings.postgres_readonly_url()

with st.sidebar:
    st.subheader("Filters")
    rules = st.multiselect("Rule", sorted(load_rules(settings.rules_file)))
    severities = st.multiselect("Severity", list(SEVERITIES))
    user_id = st.text_input("User id")
    merchant_id = st.text_input("Merchant id")
    window = st.selectbox("Time range", list(WINDOWS), index=len(WINDOWS) - 1)

minutes = WINDOWS[window]
chosen = postgres.AlertFilter(
    rules=tuple(rules), severities=tuple(severities), user_id=user_id, merchant_id=merchant_id,
    since=datetime.now(UTC) - timedelta(minutes=minutes) if minutes else None)


@st.fragment(run_every=REFRESH)
def alert_table() -> None:
    """The active rules version and the alert list; re-runs on its own every few seconds
    without reloading the page."""
    active = data.pg_frame(dsn, postgres.active_rules_version)
    if not active.empty:
        row = active.iloc[0]
        since = pd.Timestamp(row["live_from"]).tz_convert("UTC")
        st.caption(f"Rules version `{row['rules_version']}` live since "
                   f"{since:%Y-%m-%d %H:%M:%S} UTC ({row['source']})")
    alerts = data.pg_frame(dsn, postgres.newest_alerts, chosen, LIMIT)
    if alerts.empty:
        st.info("No alerts yet. Start `paystream produce` and `paystream stream`; alerts "
                "appear here within a micro-batch.")
        return
    st.caption(f"{len(alerts)} newest alerts (max {LIMIT}), refreshed every {REFRESH}")
    event = st.dataframe(alerts.drop(columns=["details"]), hide_index=True,
                         on_select="rerun", selection_mode="single-row", key="alerts")
    rows = event.selection.rows
    st.session_state["selected_alert"] = (alerts.iloc[rows[0]].to_dict() if rows
                                          else alerts.iloc[0].to_dict())


alert_table()

selected = st.session_state.get("selected_alert")
if selected:
    st.subheader(f"Alert {selected['alert_id']}")
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{selected['rule_id']}** ({selected['severity']}) on transaction "
                    f"`{selected['transaction_id']}`")
        st.json(selected.get("details") or {})
        transaction = data.lake_frame(
            str(settings.lake_location),
            "SELECT transaction_id, user_id, card_id, amount, currency, "
            "amount_eur, merchant_id, merchant_category, event_time, country, city, channel "
            "FROM silver_transactions WHERE event_date = ?::DATE AND transaction_id = ?",
            [str(selected["event_time"])[:10], selected["transaction_id"]])
        st.markdown("**Transaction**")
        if transaction.empty:
            st.info("The transaction is not in silver (yet).")
        else:
            st.dataframe(transaction.T.rename(columns={0: "value"}))
    with right:
        st.markdown(f"**Recent activity of user `{selected['user_id']}`** (per minute)")
        activity = data.lake_frame(
            str(settings.lake_location),
            # additive rows (one per lake batch that saw the minute): summed per minute
            "SELECT minute, sum(payments) AS payments, sum(amount_eur) AS amount_eur "
            "FROM gold_user_activity_1m WHERE user_id = ? GROUP BY minute "
            "ORDER BY minute DESC LIMIT 60", [selected["user_id"]])
        if activity.empty:
            st.info("No activity recorded for this user yet.")
        else:
            st.altair_chart(time_chart(activity, "minute", "payments"), width="stretch")
        user_alerts = data.pg_frame(dsn, postgres.newest_alerts,
                                    postgres.AlertFilter(user_id=selected["user_id"]), 20)
        st.dataframe(user_alerts[["detected_at", "rule_id", "severity", "amount_eur"]],
                     hide_index=True)
