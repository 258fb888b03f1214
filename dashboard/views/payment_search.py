"""Payment search: one payment by its transaction id (with its risk decision, the decision's
explanation and its alerts) and the user's recent payments, or the newest payments of a user
or a merchant id. Reads payments.transactions (the lake's copy of silver in PostgreSQL)."""

import pandas as pd
import streamlit as st

from dashboard import data
from lakehouse.stores import postgres

LIMIT = 50

st.title("Payment search")
settings = data.settings()
dsn = settings.postgres_readonly_url()

if "search" not in st.session_state:  # a pasted URL's search (?q=...) fills the box once
    st.session_state["search"] = st.query_params.get("q", "")
term = st.text_input("Transaction, user or merchant id", key="search",
                     placeholder="e.g. a transaction id from an alert").strip()
if term != st.query_params.get("q", ""):
    st.query_params["q"] = term  # the URL of a search can be pasted and shared

if not term:
    newest = data.pg_frame(dsn, postgres.newest_payments, LIMIT)
    if newest.empty:
        st.info("No payments in PostgreSQL yet: `paystream stream` copies every silver payment "
                "to payments.transactions (`paystream demo` runs it all).")
    else:
        st.caption(f"The {len(newest)} newest payments; search by any id above.")
        st.dataframe(newest, hide_index=True)
    st.stop()

payment = data.pg_frame(dsn, postgres.payment_by_id, term)
if not payment.empty:
    row = payment.iloc[0]
    st.subheader(f"Payment {row['transaction_id']}")
    st.dataframe(payment, hide_index=True)
    decision = data.pg_frame(dsn, postgres.decision_of_payment, term)
    if decision.empty:
        st.markdown("**Decision: approve** (the risk score stayed under the review band)")
    else:
        chosen = decision.iloc[0]
        st.markdown(f"**Decision: {chosen['decision']}** at risk score "
                    f"**{chosen['risk_score']:.2f}**; rules fired: "
                    f"{', '.join(chosen['fired'] or []) or 'none'}")
        st.dataframe(pd.DataFrame(chosen["contributions"] or [], columns=["name", "value"]),
                     hide_index=True)
    alerts = data.pg_frame(dsn, postgres.alerts_of_payment, term, LIMIT)
    st.markdown(f"**Alerts on this payment: {len(alerts)}**")
    if not alerts.empty:
        st.dataframe(alerts, hide_index=True)
    user = str(row["user_id"])
    recent = data.pg_frame(dsn, postgres.payments_of_user, user, LIMIT)
    st.markdown(f"**Recent payments of user {user}**")
    st.dataframe(recent, hide_index=True)
    st.stop()

by_user = data.pg_frame(dsn, postgres.payments_of_user, term, LIMIT)
by_merchant = data.pg_frame(dsn, postgres.payments_of_merchant, term, LIMIT)
if by_user.empty and by_merchant.empty:
    st.warning(f"No payment, user or merchant {term!r} in PostgreSQL (it keeps the last "
               f"{settings.postgres.transactions_retention_days} days).")
for label, found in (("user", by_user), ("merchant", by_merchant)):
    if not found.empty:
        st.subheader(f"Newest payments of {label} {term}")
        st.dataframe(found, hide_index=True)
