"""`paystream bench dashboard`: page render times with a million alerts in PostgreSQL.

Adds 1,000,000 synthetic alerts (ids `bench-…`) to payments.alerts, renders
every page the app registers (dashboard/app.py) with Streamlit's AppTest (the
full script run, queries included: Streamlit's data cache is cleared before each
render) a number of times, reports p50/p95 per page, then deletes the synthetic
rows. The PostgreSQL statements are lakehouse.stores.postgres's.
"""

from __future__ import annotations

import ast
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lakehouse.errors import PaystreamError
from lakehouse.settings import Settings


@dataclass(frozen=True)
class DashboardPage:
    """A page dashboard/app.py registers: URL path, script (None: a function), hidden or not."""

    url_path: str
    script: Path | None
    hidden: bool


@dataclass(frozen=True)
class PageTiming:
    """Render times of one page."""

    page: str
    p50_ms: float
    p95_ms: float
    runs: int


def dashboard_app() -> Path:
    """The dashboard's entry script, dashboard/app.py, found through the installed package."""
    import dashboard

    return Path(dashboard.__file__).resolve().parent / "app.py"


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _page_of(call: ast.expr, app: Path) -> DashboardPage:
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            and call.func.attr == "Page" and call.args):
        raise ValueError(f"{app}: {ast.unparse(call)} is not an st.Page(...)")
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    target = _literal(call.args[0])
    script = app.parent / target if target else None
    return DashboardPage(
        url_path=(_literal(keywords.get("url_path"))
                  or (script.stem if script else ast.unparse(call.args[0]))),
        script=script, hidden=_literal(keywords.get("visibility")) == "hidden")


def registered_pages(app: Path | None = None) -> list[DashboardPage]:
    """The pages the app passes to st.navigation, in order, read from its source (pure)."""
    app = app or dashboard_app()
    tree = ast.parse(app.read_text(), str(app))
    assigned = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    navigations = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                   and isinstance(node.func, ast.Attribute) and node.func.attr == "navigation"]
    if len(navigations) != 1 or not navigations[0].args:
        raise ValueError(f"{app}: expected one st.navigation(pages) call")
    pages = navigations[0].args[0]
    if isinstance(pages, ast.Name):
        pages = assigned.get(pages.id, pages)
    if not isinstance(pages, ast.List | ast.Tuple):
        raise ValueError(f"{app}: st.navigation's pages are not a list: {ast.unparse(pages)}")
    return [_page_of(assigned.get(page.id, page) if isinstance(page, ast.Name) else page, app)
            for page in pages.elts]


def timed_pages(app: Path | None = None) -> list[DashboardPage]:
    """The registered pages the benchmark renders: every page with a script (the hidden root
    page is a function that only switches to the live alerts); a missing script fails here."""
    pages = [page for page in registered_pages(app) if page.script is not None]
    missing = [str(page.script) for page in pages if page.script and not page.script.is_file()]
    if not pages or missing:
        raise FileNotFoundError(f"dashboard pages not found: {', '.join(missing) or 'none'}")
    return pages


@contextmanager
def _bare_mode_quiet() -> Iterator[None]:
    """Silence the warnings Streamlit logs for work outside a script run (AppTest's set-up,
    clearing the data cache): one per render otherwise."""
    quiet = [logging.getLogger(f"streamlit.runtime.{name}") for name in
             ("caching.cache_data_api", "scriptrunner_utils.script_run_context")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def bench_dashboard(settings: Settings, alerts: int = 1_000_000,
                    runs: int = 20) -> list[PageTiming]:
    """Fill PostgreSQL with synthetic alerts, time every page, remove them again."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from lakehouse.stores.postgres import delete_synthetic_alerts, fill_synthetic_alerts

    pages = timed_pages()  # before the fill: a wrong path costs no million rows
    dsn = settings.postgres_url()
    try:
        fill_synthetic_alerts(dsn, alerts)
        timings = []
        for page in pages:
            seconds = []
            for _ in range(runs + 1):
                with _bare_mode_quiet():
                    app = AppTest.from_file(str(page.script), default_timeout=120)
                    st.cache_data.clear()  # every render runs its queries, none is cached
                started = time.perf_counter()
                app.run()
                seconds.append(time.perf_counter() - started)
                if app.exception:  # an error page renders fast and would time nothing
                    raise PaystreamError(f"bench dashboard: page {page.url_path} failed: "
                                         f"{app.exception[0].value}")
            seconds = seconds[1:]  # the first run imports the page's modules
            timings.append(PageTiming(page.url_path, _percentile(seconds, 0.5) * 1000,
                                      _percentile(seconds, 0.95) * 1000, runs))
        return timings
    finally:
        delete_synthetic_alerts(dsn)
