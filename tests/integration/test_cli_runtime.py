"""The CLI on real services: status, topics reconcile, and the one-line error paths."""

from __future__ import annotations

import json
import socket
import sys
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from lakehouse.settings import Settings
from tests.conftest import free_port, run_cli

pytestmark = pytest.mark.integration


def test_status_json_shows_live_broker_and_database(live_services: Settings) -> None:
    result = run_cli("status", "--json")
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert state["kafka"]["up"] is True
    assert state["kafka"]["bootstrap"] == live_services.kafka.bootstrap_servers
    assert state["postgres"]["up"] is True
    assert state["postgres"]["dsn"].endswith(
        f"@{live_services.postgres.host}:{live_services.postgres.port}/paystream")
    assert state["lake_root"] == str(live_services.lake)


def _describe(settings: Settings, topic: str) -> tuple[int, str]:
    admin = KafkaAdminClient(**settings.kafka.python_client_config())
    try:
        partitions = len(admin.describe_topics([topic])[0]["partitions"])
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)],
                                         config_filter="all")["topic"][topic]
        return partitions, configs["retention.ms"]["value"]
    finally:
        admin.close()


def test_topics_twice_is_a_no_op_and_partitions_grow(
    live_services: Settings, unique_topic: str, tmp_path: Path
) -> None:
    topics_file = tmp_path / "topics.yaml"

    def write(partitions: int, retention: int) -> None:
        topics_file.write_text(
            f"topics:\n  {unique_topic}:\n    partitions: {partitions}\n"
            f"    replication_factor: 1\n    config: {{retention.ms: '{retention}'}}\n"
        )

    write(partitions=2, retention=3_600_000)
    unmanaged = {"PAYSTREAM_KAFKA__MANAGE_TOPICS": "false"}  # topics owned by a template
    missing = run_cli("topics", "--file", str(topics_file), env=unmanaged)
    assert missing.returncode == 1
    assert f"topics missing on {live_services.kafka.bootstrap_servers}: {unique_topic} " \
        in missing.stderr, missing.stderr
    first = run_cli("topics", "--file", str(topics_file))
    assert first.returncode == 0, first.stderr
    assert "create" in first.stdout
    assert _describe(live_services, unique_topic) == (2, "3600000")

    second = run_cli("topics", "--file", str(topics_file))
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("no changes")

    write(partitions=5, retention=7_200_000)
    reported = run_cli("topics", "--file", str(topics_file), env=unmanaged)
    assert reported.returncode == 0, reported.stderr
    assert "differs (not managed): grow_partitions (2 -> 5)" in reported.stdout
    dry = run_cli("topics", "--file", str(topics_file), "--dry-run")
    assert "would apply: grow_partitions (2 -> 5)" in dry.stdout
    assert _describe(live_services, unique_topic) == (2, "3600000")

    third = run_cli("topics", "--file", str(topics_file))
    assert third.returncode == 0, third.stderr
    assert "grow_partitions (2 -> 5)" in third.stdout
    assert "set_config" in third.stdout
    assert _describe(live_services, unique_topic) == (5, "7200000")

    write(partitions=3, retention=7_200_000)
    shrink = run_cli("topics", "--file", str(topics_file))
    assert shrink.returncode == 0
    assert "cannot fix: cannot_shrink" in shrink.stdout
    assert _describe(live_services, unique_topic)[0] == 5


def _isolated_env(settings: Settings, home: Path, **extra: str) -> dict[str, str]:
    """Environment for a second, throwaway state folder on free ports, sharing the jar cache."""
    env = {
        "PAYSTREAM_HOME": str(home),
        "PAYSTREAM_JARS_DIR": str(settings.jars),
        "PAYSTREAM_KAFKA__PORT": str(free_port()),
        "PAYSTREAM_KAFKA__CONTROLLER_PORT": str(free_port()),
        "PAYSTREAM_POSTGRES__PORT": str(free_port()),
    }
    env.update(extra)
    return env


def _one_line_error(result) -> str:  # type: ignore[no-untyped-def]
    """The error line; progress lines (starting with '…') may precede it, nothing else may."""
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("… ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("paystream up: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("port_setting", "service"),
    [("PAYSTREAM_KAFKA__PORT", "Kafka broker"), ("PAYSTREAM_POSTGRES__PORT", "PostgreSQL")],
)
def test_port_in_use_is_a_one_line_error(
    live_services: Settings, tmp_path: Path, port_setting: str, service: str
) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        env = _isolated_env(live_services, tmp_path / "home", **{port_setting: str(port)})
        line = _one_line_error(run_cli("up", env=env))
    assert f"port {port}" in line and service in line and "in use" in line
    assert port_setting in line
    assert not (tmp_path / "home" / "kafka").exists()  # nothing was started


def test_broken_dsn_is_a_one_line_error(live_services: Settings, tmp_path: Path) -> None:
    dsn = f"postgresql://nobody:wrong@127.0.0.1:{free_port()}/nothing"
    env = _isolated_env(live_services, tmp_path / "home", PAYSTREAM_POSTGRES_DSN=dsn)
    line = _one_line_error(run_cli("up", env=env))
    assert "cannot reach PostgreSQL" in line and "wrong" not in line


def test_missing_java_is_a_one_line_error(live_services: Settings, tmp_path: Path) -> None:
    env = _isolated_env(live_services, tmp_path / "home",
                        PATH=str(Path(sys.executable).parent), JAVA_HOME="")
    line = _one_line_error(run_cli("up", env=env))
    assert "Java 17+ not found" in line and "JAVA_HOME" in line


def test_broker_not_up_in_time_names_the_log_and_leaves_nothing_running(
    live_services: Settings, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = _isolated_env(live_services, home, PAYSTREAM_KAFKA__START_TIMEOUT_S="0.5",
                        PAYSTREAM_POSTGRES_DSN=live_services.postgres_url())
    line = _one_line_error(run_cli("up", env=env))
    assert "not up within 0.5 s" in line and str(home / "logs" / "kafka.log") in line
    assert _processes_mentioning(str(home)) == []


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains text; a process that exits meanwhile is skipped."""
    import psutil

    return [process.info["pid"] for process in psutil.process_iter(["pid", "cmdline"])
            if text in " ".join(process.info["cmdline"] or ())]


def test_up_is_idempotent(live_services: Settings) -> None:
    result = run_cli("up")
    assert result.returncode == 0, result.stderr
    assert "kafka was already running" in result.stdout
    assert "postgres was already running" in result.stdout


def test_down_only_stops_what_up_started(live_services: Settings, tmp_path: Path) -> None:
    env = _isolated_env(live_services, tmp_path / f"home-{uuid.uuid4().hex[:6]}")
    result = run_cli("down", env=env)
    assert result.returncode == 0
    assert "nothing was running" in result.stdout
    assert run_cli("status", "--json").returncode == 0  # the suite's services still answer


def test_bench_e2e_on_a_broker_without_its_topics_is_a_one_line_error(
    live_services: Settings, tmp_path: Path
) -> None:
    absent = f"absent_{uuid.uuid4().hex[:8]}"
    topics = tmp_path / "topics.yaml"
    topics.write_text(f"topics:\n  transactions:\n    partitions: 6\n  {absent}:\n"
                      "    partitions: 1\n")
    result = run_cli("bench", "e2e", "--duration", "1",
                     env={"PAYSTREAM_KAFKA__TOPICS_FILE": str(topics)})
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("… ")]
    assert len(lines) == 1, result.stderr  # no JVM stack trace: Spark never started
    assert lines[0].startswith("paystream bench: error: topics missing on ")
    assert absent in lines[0]
    assert "paystream topics" in lines[0]
