"""Pipeline health: per-query lag and records/s, alert latency p50/p99, the last batch per layer."""

import pandas as pd
import streamlit as st

from dashboard import data
from lakehouse.stores import postgres

WINDOW_MIN = 15

st.title("Pipeline health")
settings = data.settings()
dsn = settings.postgres_readonly_url()


@st.fragment(run_every="10s")
def health() -> None:
    """Progress from the queries' checkpoints and Kafka; latency from pipeline_metrics."""
    progress = data.query_progress(settings)
    summary = data.pg_frame(dsn, postgres.metrics_per_layer, WINDOW_MIN)
    if progress.empty and summary.empty:
        st.info("No batch recorded yet. Start `paystream stream` (or `paystream demo`).")
        return
    alerts = summary[summary["layer"] == "alerts"] if not summary.empty else summary
    lake = progress[progress["query"] == "medallion"]
    a, b, c, d = st.columns(4)
    a.metric("Events/s into the lake (last 5 min)", _rate(lake["records/s"]))
    b.metric(f"Alert latency p50 ({WINDOW_MIN} min)",
             _ms(alerts["latency_p50_ms"]) if not alerts.empty else "–")
    c.metric(f"Alert latency p99 ({WINDOW_MIN} min)",
             _ms(alerts["latency_p99_ms"]) if not alerts.empty else "–")
    d.metric("Lake lag (records)", _count(lake["lag (records)"]))
    st.subheader("Queries")
    st.caption("Lag: the topic's end offsets minus the query's last committed batch. The "
               "instant query runs in real-time mode and commits once per real-time batch, "
               "so its lag reads up to one batch behind while its alerts flow at once.")
    st.dataframe(progress, hide_index=True)
    last = data.pg_frame(dsn, postgres.last_batch_per_layer)
    if not last.empty:
        st.subheader("Last batch per layer")
        st.dataframe(last, hide_index=True)


def _rate(values: pd.Series) -> str:
    values = values.dropna()
    return f"{float(values.iloc[0]):,.0f}" if not values.empty else "–"


def _ms(values: pd.Series) -> str:
    values = values.dropna()
    return f"{float(values.iloc[0]):,.0f} ms" if not values.empty else "–"


def _count(values: pd.Series) -> str:
    values = values.dropna()
    return f"{int(values.max()):,}" if not values.empty else "–"


health()
