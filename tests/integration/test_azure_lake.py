"""An abfss:// lake without an Azure account here: both readers load their connector and go
to the account's real endpoint (DNS fails offline), and the user gets one line naming it."""

from __future__ import annotations

import pytest

from lakehouse.settings import Settings
from tests.conftest import run_cli

pytestmark = pytest.mark.integration

ACCOUNT = "paystreamnoaccount"
ENV = {"PAYSTREAM_LAKE_ROOT": f"abfss://lake@{ACCOUNT}.dfs.core.windows.net/paystream",
       "PAYSTREAM_AZURE__AUTH": "shared_key", "PAYSTREAM_AZURE__ACCOUNT_KEY": "a2V5",
       "PAYSTREAM_AZURE__MAX_RETRIES": "0"}


def _one_line(result, command: str) -> str:  # type: ignore[no-untyped-def]
    """The command's own error: one line, the last (the JVM's log lines may come before)."""
    assert result.returncode == 1, result.stdout + result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("paystream ")]
    assert len(ours) == 1 and result.stderr.rstrip().endswith(ours[0]), result.stderr
    assert ours[0].startswith(f"paystream {command}: "), result.stderr
    return str(ours[0])


def test_spark_reaches_the_account_through_hadoop_azure(live_services: Settings) -> None:
    line = _one_line(run_cli("stream", "--available-now", "--layer", "bronze", env=ENV,
                             timeout=600), "stream")
    assert f"java.net.UnknownHostException: {ACCOUNT}.dfs.core.windows.net" in line, line
    assert "No FileSystem for scheme" not in line


def test_sql_reaches_the_account_through_delta_rs(live_services: Settings) -> None:
    line = _one_line(run_cli("sql", "SELECT count(*) FROM silver_transactions", env=ENV), "sql")
    assert f"https://{ACCOUNT}.blob.core.windows.net/lake/paystream/silver/transactions" in line
