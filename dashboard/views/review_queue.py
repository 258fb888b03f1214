"""Review queue: the payments the risk score sent to review or block, highest score first,
each with its explanation; an analyst confirms fraud or clears it, and per-rule precision
follows from those dispositions."""

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.charts import time_chart
from lakehouse.stores import postgres

LIMIT = 100
REFRESH = "10s"

st.title("Review queue")
settings = data.settings()
dsn = settings.postgres_readonly_url()

with st.sidebar:
    analyst = st.text_input("Analyst", value=st.session_state.get("analyst", "analyst"))
    st.session_state["analyst"] = analyst

queue = data.pg_frame(dsn, postgres.review_queue, LIMIT)
if queue.empty:
    st.info("Nothing to review. `paystream stream` scores every payment; those it sends to "
            "review or block wait here for an analyst.")
else:
    st.caption(f"{len(queue)} payments waiting (max {LIMIT}), highest risk score first")
    shown = queue.assign(
        explanation=queue["contributions"].map(
            lambda parts: ", ".join(f"{p['name']} {p['value']:.2f}" for p in parts or [])),
        fired=queue["fired"].map(lambda rules: ", ".join(rules or [])))
    event = st.dataframe(
        shown[["risk_score", "decision", "explanation", "fired", "amount_eur", "user_id",
               "merchant_id", "event_time", "transaction_id"]],
        hide_index=True, on_select="rerun", selection_mode="single-row", key="queue",
        column_config={"risk_score": st.column_config.ProgressColumn(
            "risk score", min_value=0.0, max_value=1.0, format="%.2f")})
    rows = event.selection.rows
    chosen = queue.iloc[rows[0] if rows else 0]
    st.subheader(f"Payment {chosen['transaction_id']}")
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{chosen['decision']}** at risk score **{chosen['risk_score']:.2f}** "
                    f"for {chosen['amount_eur']} EUR")
        st.dataframe(pd.DataFrame(chosen["contributions"] or [], columns=["name", "value"]),
                     hide_index=True)
        note = st.text_input("Note", key=f"note-{chosen['transaction_id']}")
        confirm, clear = st.columns(2)
        verdict = None
        if confirm.button("Confirm fraud", type="primary", key="confirm"):
            verdict = "confirmed_fraud"
        if clear.button("Clear (false positive)", key="clear"):
            verdict = "false_positive"
        if verdict:
            postgres.record_disposition(settings.postgres_analyst_url(),
                                        chosen["transaction_id"], verdict, analyst, note)
            st.success(f"{chosen['transaction_id']}: {verdict.replace('_', ' ')}")
            st.rerun()
    with right:
        if chosen["model_version"] is not None and not pd.isna(chosen["model_version"]):
            st.markdown(f"**Risk model version {int(chosen['model_version'])}**: fraud "
                        f"probability {chosen['model_score']:.2f}; what raised it most")
            st.dataframe(pd.DataFrame(chosen["model_reasons"] or [], columns=["name", "value"]),
                         hide_index=True)
        st.markdown("**Features at decision time**")
        st.json(chosen["features"] or {})

st.subheader("Rule precision from dispositions")
precision = data.rule_precision(
    data.pg_frame(dsn, postgres.dispositions_per_day_and_rule, 30))
if precision.empty:
    st.caption("No dispositions in the last 30 days yet.")
else:
    st.altair_chart(time_chart(precision.dropna(subset=["precision"]), "day", "precision",
                               color="rule_id", mark="bar", bucket="hour"),
                    use_container_width=True)
    st.dataframe(precision, hide_index=True, column_config={
        "precision": st.column_config.NumberColumn(format="percent")})
