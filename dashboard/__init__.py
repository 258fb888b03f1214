"""The Streamlit dashboard (dashboard/app.py). Imports the core library only."""
