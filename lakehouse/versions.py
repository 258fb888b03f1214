"""The JVM artifacts the project runs, read from pyproject.toml (the one place versions live)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache

from lakehouse import PROJECT_ROOT


@dataclass(frozen=True)
class JvmVersions:
    """Maven coordinates for the Kafka broker, Spark's extra packages and the Java tests."""

    kafka_version: str
    kafka_broker: tuple[str, ...]
    spark_packages: tuple[str, ...]
    azure_storage: tuple[str, ...]
    java_tests: tuple[str, ...]


@cache
def jvm_versions() -> JvmVersions:
    """Read [tool.paystream.jvm] from pyproject.toml."""
    with open(PROJECT_ROOT / "pyproject.toml", "rb") as handle:
        jvm = tomllib.load(handle)["tool"]["paystream"]["jvm"]
    return JvmVersions(
        kafka_version=jvm["kafka_version"],
        kafka_broker=tuple(jvm["kafka_broker"]),
        spark_packages=tuple(jvm["spark_packages"]),
        azure_storage=tuple(jvm["azure_storage"]),
        java_tests=tuple(jvm["java_tests"]),
    )
