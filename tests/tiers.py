"""Test tiers by what a test needs, cheapest first: pure, infra, spark, services, slow.

A module's tests share one tier, the costliest any of them needs, so a module's fixtures
are set up once. `make test` runs every tier in this order and stops at the end of the
first tier that fails; `make test-TIER` (pytest -m TIER) runs one tier alone.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from pathlib import Path

import pytest

TIERS = ("pure", "infra", "spark", "services", "slow")
"""Cheapest first: no JVM; external binaries (compose, hadolint, Bicep); one Spark session
(or another JVM); real Kafka and PostgreSQL; faults, a cluster, the whole demo."""

INFRA_MODULES = frozenset({"test_containers", "test_deploy_secrets"})
"""Modules that run the deployment tools (the compose binary, hadolint, pycep-parser)."""
JVM_MODULES = frozenset({"test_jvm_unit_tests"})
"""Modules that run a JVM without the Spark session (the Java processor's JUnit tests)."""


def tier_of_test(module: str, markers: Iterable[str], fixtures: Iterable[str]) -> str:
    """The tier of one test from its module name, its markers and the fixtures it uses."""
    markers, fixtures = set(markers), set(fixtures)
    if "slow" in markers:
        return "slow"
    if "integration" in markers or "live_services" in fixtures:
        return "services"
    if "spark" in fixtures or module in JVM_MODULES:
        return "spark"
    if module in INFRA_MODULES:
        return "infra"
    return "pure"


def module_tiers(tests: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Each module's tier: the costliest of its tests' tiers (pairs of module, test tier)."""
    tiers: dict[str, str] = {}
    for module, tier in tests:
        tiers[module] = max(tiers.get(module, tier), tier, key=TIERS.index)
    return tiers


_TIER = pytest.StashKey[str]()
_tier_of_node: dict[str, str] = {}
_failed_tiers: set[str] = set()
_seconds_by_tier: dict[str, float] = {}
_tests_by_tier: dict[str, int] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Register one marker per tier."""
    for tier in TIERS:
        config.addinivalue_line("markers", f"{tier}: the {tier} tier (set from what a test uses)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its module's tier and run the tiers cheapest first."""
    def module(item: pytest.Item) -> str:
        return item.nodeid.split("::")[0]

    def own(item: pytest.Item) -> str:
        return tier_of_test(Path(module(item)).stem, (m.name for m in item.iter_markers()),
                            getattr(item, "fixturenames", ()))

    tiers = module_tiers((module(item), own(item)) for item in items)
    for item in items:
        item.add_marker(tiers[module(item)])
        item.stash[_TIER] = _tier_of_node[item.nodeid] = tiers[module(item)]
    items.sort(key=lambda item: TIERS.index(item.stash[_TIER]))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember the tier of every failing test (in setup, call or teardown) and its time."""
    tier = _tier_of_node.get(report.nodeid, TIERS[0])
    if report.failed:
        _failed_tiers.add(tier)
    _seconds_by_tier[tier] = _seconds_by_tier.get(tier, 0.0) + report.duration
    if report.when == "call":
        _tests_by_tier[tier] = _tests_by_tier.get(tier, 0) + 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print each tier's test count and time (setup, call and teardown summed)."""
    if _seconds_by_tier:
        terminalreporter.section("time by tier")
        for tier in TIERS:
            if tier in _seconds_by_tier:
                terminalreporter.write_line(f"{tier:9} {_tests_by_tier.get(tier, 0):4d} tests "
                                            f"{_seconds_by_tier[tier]:8.1f} s")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item,
                            nextitem: pytest.Item | None) -> Generator[None, object, object]:
    """Stop at the end of a tier in which a test failed: a costlier tier would only wait."""
    result = yield
    tier = item.stash[_TIER]
    if nextitem is not None and nextitem.stash[_TIER] != tier and tier in _failed_tiers:
        item.session.shouldstop = f"the {tier} tier failed: the tiers after it were not run"
    return result
