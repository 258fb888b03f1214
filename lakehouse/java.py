"""Find a Java 17+ runtime for the Kafka broker and Spark."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from lakehouse.errors import PaystreamError

MIN_JAVA = 17
_NO_JAVA = (
    "Java {min}+ not found: install a JDK (apt-get install openjdk-17-jdk-headless) "
    "or set JAVA_HOME to one"
)


def parse_java_major(version_output: str) -> int | None:
    """The major version in `java -version` output: '"17.0.15"' -> 17, '"1.8.0_392"' -> 8."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_java() -> Path:
    """The java executable to use (JAVA_HOME first, then PATH); raise if none is 17+."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is None or not candidate.exists():
        found = shutil.which("java")
        candidate = Path(found) if found else None
    if candidate is None:
        raise PaystreamError(_NO_JAVA.format(min=MIN_JAVA))
    result = subprocess.run(
        [str(candidate), "-version"], capture_output=True, text=True, check=False
    )
    major = parse_java_major(result.stderr + result.stdout)
    if major is None or major < MIN_JAVA:
        raise PaystreamError(
            f"{candidate} is Java {major or '?'}, but {MIN_JAVA}+ is needed: "
            "install openjdk-17-jdk-headless or point JAVA_HOME at a newer JDK"
        )
    return candidate
