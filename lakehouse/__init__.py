"""The core library: settings, event contract, tables, stores, rules, behaviour, risk.

Imported by every other package; imports none of them (import-linter holds it).
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The repository root: config/, dags/ and pyproject.toml live here."""
