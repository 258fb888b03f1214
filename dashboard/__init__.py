"""The Streamlit dashboard (dashboard/app.py)."""
