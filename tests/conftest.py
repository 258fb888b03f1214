"""Shared fixtures: settings, the real services (started through the runtime), one Spark session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.settings import Settings, load_settings
from paystream.runtime import kafka_broker, postgres_server, services

pytest_plugins = ["tests.tiers"]


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The settings of the profile under test (PAYSTREAM_PROFILE, `test` under `make test`)."""
    return load_settings()


@pytest.fixture(scope="session")
def live_services(settings: Settings) -> Iterator[Settings]:
    """Kafka and PostgreSQL up through the project's runtime; stops only what it started."""
    report = services.up(settings)
    yield settings
    if "kafka" in report.started:
        kafka_broker.stop(settings)
    if "postgres" in report.started:
        postgres_server.stop(settings)


@pytest.fixture(scope="session")
def spark(settings: Settings):  # type: ignore[no-untyped-def]
    """One Spark session with Delta and the Kafka source for the whole suite."""
    from lakehouse.spark import build_spark_session

    session = build_spark_session(settings, app_name="paystream-tests")
    yield session
    session.stop()


@pytest.fixture
def unique_topic(live_services: Settings) -> Iterator[str]:
    """A fresh topic name; the topic is deleted after the test."""
    from kafka import KafkaAdminClient

    name = f"test_{uuid.uuid4().hex[:10]}"
    yield name
    admin = KafkaAdminClient(**live_services.kafka.python_client_config())
    try:
        if name in admin.list_topics():
            admin.delete_topics([name])
    finally:
        admin.close()


def alive(pid: int) -> bool:
    """True while a process runs (not a zombie); one that exits meanwhile is not alive."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_run(length: int) -> int:
    """The first of `length` consecutive free loopback ports, below the ephemeral range (an
    ephemeral port found free can be taken by any outgoing connection before a broker binds)."""
    import random

    from paystream.runtime.processes import port_is_free

    for _ in range(200):
        base = random.randrange(20_000, 32_000 - length)
        if all(port_is_free("127.0.0.1", base + i) for i in range(length)):
            return base
    raise AssertionError("no run of free ports")


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run `paystream ARGS` in a subprocess, as a user would, and capture its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "paystream.cli", *args],
        capture_output=True, text=True, env=full_env, timeout=timeout, check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
