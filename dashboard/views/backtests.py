"""Backtests: the learned risk models (champion and challengers, gold.risk_models) and the
reports `paystream backtest` and the `rule_backtest` DAG stored."""

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import data

st.title("Backtests")
settings = data.settings()

st.subheader("Risk models: champion and challengers")
models = data.risk_models(str(settings.lake_location))
if models.empty:
    st.caption("No risk model yet: `paystream model train` (or the `risk_model_training` DAG) "
               "learns one from the labelled lake; until one is promoted the rules alone "
               "decide.")
else:
    st.dataframe(models, hide_index=True, column_config={
        name: st.column_config.NumberColumn(format="percent")
        for name in models.columns if name.endswith(("precision", "recall"))})

st.subheader("Backtest reports")
reports = data.backtest_reports(settings.home / "backtests")
if not reports:
    st.info("No backtest yet. Run `paystream backtest` (after `paystream import` of a labelled "
            "history), or trigger the `rule_backtest` DAG in Airflow.")
    st.stop()

listing = pd.DataFrame([{
    "made (UTC)": pd.to_datetime(r["made_at"], format="%Y%m%dT%H%M%SZ"),
    "rules file": Path(r["rules_file"]).name,
    "range": f"{r['first']} .. {r['last']}", "alerts": r["overall"]["alerts"],
    "precision": r["overall"]["precision"], "recall": r["overall"]["recall"],
    "risk model": r.get("model_version") or "",
    "compared with": (Path(r["compare"]["rules_file"]).name if "rules_file" in r["compare"]
                      else f"model {r['compare']['model_version'] or 'none'}")
    if r.get("compare") else "",
    "sweep": r["sweep"]["target"] if r.get("sweep") else ""} for r in reports])
st.dataframe(listing, hide_index=True, column_config={
    "precision": st.column_config.NumberColumn(format="percent"),
    "recall": st.column_config.NumberColumn(format="percent")})

chosen = st.selectbox("Report", range(len(reports)),
                      format_func=lambda i: f"{reports[i]['made_at']} · "
                                            f"{Path(reports[i]['rules_file']).name}")
report = reports[chosen]
st.dataframe(pd.DataFrame([*report["rules"], report["overall"]]), hide_index=True,
             column_config={"precision": st.column_config.NumberColumn(format="percent"),
                            "recall": st.column_config.NumberColumn(format="percent")})
page = Path(report["html"])
if page.exists():
    st.download_button("Download the HTML report", page.read_bytes(), file_name=page.name,
                       mime="text/html")
    st.iframe(page, height=1400)  # our own report file (st.components.v1.html is deprecated)
