"""`paystream bench dashboard` times the pages the app registers (dashboard/app.py), each
script where the app serves it from, and holds no PostgreSQL statement of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

import dashboard
from benchmarks import dashboard as bench
from lakehouse.settings import load_settings
from lakehouse.stores import postgres
from tests.unit.test_store_boundaries import postgres_statements

DASHBOARD = Path(dashboard.__file__).resolve().parent


def test_the_bench_times_every_page_the_app_registers_from_its_own_file() -> None:
    registered = bench.registered_pages()
    timed = bench.timed_pages()
    assert timed == [page for page in registered if page.script is not None]
    assert all(page.script is not None and page.script.is_file() for page in timed)
    # every view is registered, so timed; a page without a script only redirects (hidden)
    assert {page.script for page in timed} == set((DASHBOARD / "views").glob("*.py"))
    assert all(page.hidden for page in registered if page.script is None)
    assert len({page.url_path for page in timed}) == len(timed) >= 8


APP = '''
import streamlit as st

FIRST = st.Page("views/first.py", title="First", url_path="first")
PAGES = [
    st.Page(lambda: st.switch_page(FIRST), title="Home", default=True, visibility="hidden"),
    FIRST,
    st.Page("views/second.py", title="Second"),
]
st.navigation(PAGES).run()
'''


def test_pages_are_read_through_names_and_paths_resolve_beside_the_app(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    pages = bench.registered_pages(app)
    assert [(p.url_path, p.script, p.hidden) for p in pages[1:]] == [
        ("first", tmp_path / "views" / "first.py", False),
        ("second", tmp_path / "views" / "second.py", False)]
    assert pages[0].script is None and pages[0].hidden
    with pytest.raises(FileNotFoundError, match="first.py"):
        bench.timed_pages(app)  # the scripts are not there


def test_a_missing_page_fails_before_any_alert_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "app.py").write_text(APP)
    writes: list[str] = []
    monkeypatch.setattr(bench, "dashboard_app", lambda: tmp_path / "app.py")
    monkeypatch.setattr(postgres, "fill_synthetic_alerts", lambda *_: writes.append("fill"))
    monkeypatch.setattr(postgres, "delete_synthetic_alerts", lambda *_: writes.append("delete"))
    with pytest.raises(FileNotFoundError, match="dashboard pages not found"):
        bench.bench_dashboard(load_settings(), alerts=10, runs=1)
    assert writes == []


def test_the_bench_holds_no_postgres_statement() -> None:
    assert postgres_statements(Path(bench.__file__).read_text()) == []
