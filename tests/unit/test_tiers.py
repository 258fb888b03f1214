"""The suite's tiers: what puts a test in a tier, and `make test` stopping after a failing one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.tiers import module_tiers, tier_of_test

REPO = Path(__file__).resolve().parents[2]


def test_a_test_is_in_the_tier_of_the_costliest_thing_it_uses() -> None:
    assert tier_of_test("test_generator", [], ["tmp_path"]) == "pure"
    assert tier_of_test("test_containers", [], []) == "infra"
    assert tier_of_test("test_contract_sql", [], ["spark", "settings"]) == "spark"
    assert tier_of_test("test_jvm_unit_tests", [], ["settings"]) == "spark"
    assert tier_of_test("test_backtest", ["integration"], ["spark"]) == "services"
    assert tier_of_test("test_x", [], ["lake", "live_services", "spark"]) == "services"
    assert tier_of_test("test_demo", ["integration", "slow"], []) == "slow"


def test_a_module_runs_in_the_costliest_tier_of_its_tests() -> None:
    tiers = module_tiers([("a.py", "pure"), ("a.py", "spark"), ("a.py", "pure"),
                          ("b.py", "pure"), ("c.py", "slow"), ("c.py", "infra")])
    assert tiers == {"a.py": "spark", "b.py": "pure", "c.py": "slow"}


def test_the_suite_runs_cheapest_first_and_stops_after_a_failing_tier(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef spark():\n    return 'session'\n")
    (tmp_path / "test_costly.py").write_text(
        "def test_uses_spark(spark):\n    print('SPARK TIER RAN')\n")
    (tmp_path / "test_cheap.py").write_text(
        "def test_passes():\n    print('PURE PASSED')\n\n"
        "def test_fails():\n    print('PURE FAILED')\n    assert False\n")
    (tmp_path / "test_cheap_too.py").write_text("def test_also_pure():\n    print('PURE TOO')\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "tests.tiers", "-p", "no:cacheprovider",
             "-s", "-v", "--rootdir", str(tmp_path), "-c", "/dev/null", *args, str(tmp_path)],
            capture_output=True, text=True, cwd=REPO, timeout=120, check=False)

    stopped = run()
    assert stopped.returncode == 2, stopped.stdout  # pytest.ExitCode.INTERRUPTED: non-zero
    assert "PURE PASSED" in stopped.stdout and "PURE TOO" in stopped.stdout
    assert "SPARK TIER RAN" not in stopped.stdout
    assert "the pure tier failed: the tiers after it were not run" in stopped.stdout

    alone = run("-m", "spark")
    assert alone.returncode == 0, alone.stdout
    assert "SPARK TIER RAN" in alone.stdout and "PURE" not in alone.stdout
