"""Pipeline health: events/s, alert latency p50/p99, lag and the last batch per layer."""

import streamlit as st

from dashboard import data

WINDOW_MIN = 15

st.title("Pipeline health")
settings = data.settings()
dsn = settings.postgres_readonly_url()


@st.fragment(run_every="10s")
def health() -> None:
    """Figures from payments.pipeline_metrics, refreshed every 10 s."""
    last = data.pg_frame(dsn, data.LAST_BATCH_PER_LAYER)
    if last.empty:
        st.info("No batch recorded yet. Start `paystream stream`.")
        return
    summary = data.pg_frame(dsn, data.METRICS_SUMMARY, [WINDOW_MIN])
    alerts = summary[summary["layer"] == "alerts"]  # payment's Kafka time -> PostgreSQL row
    silver = summary[summary["layer"] == "silver"]
    a, b, c, d = st.columns(4)
    a.metric(f"Events/s (last {WINDOW_MIN} min)",
             f"{float(silver['events_per_s'].iloc[0]):,.0f}" if not silver.empty else "–")
    b.metric("Alert latency p50", _ms(alerts["latency_p50_ms"]))
    c.metric("Alert latency p99", _ms(alerts["latency_p99_ms"]))
    d.metric("Lag (records)", _count(summary["lag_records"]))
    st.subheader("Last batch per layer")
    st.dataframe(last, hide_index=True)


def _ms(values) -> str:  # type: ignore[no-untyped-def]
    values = values.dropna()
    return f"{float(values.iloc[0]):,.0f} ms" if not values.empty else "–"


def _count(values) -> str:  # type: ignore[no-untyped-def]
    values = values.dropna()
    return f"{int(values.max()):,}" if not values.empty else "–"


health()
