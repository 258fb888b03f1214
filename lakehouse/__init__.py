"""Paystream core library: settings, contracts, catalog, rules, runtime and CLI."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The repository root: config/, dags/ and pyproject.toml live here."""
