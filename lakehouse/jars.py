"""Resolve JVM jars from Maven Central with Maven, and cache them under the state folder.

Each set of coordinates gets its own folder named by a hash of the coordinates,
so a version bump in pyproject.toml resolves afresh and never mixes jars.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from lakehouse.errors import PaystreamError

_JAR_VERSION = re.compile(r"-\d+(\.[0-9A-Za-z]+)+(-[A-Za-z0-9.]+)?\.jar$")


def pom_xml(name: str, coordinates: Sequence[str]) -> str:
    """A minimal pom whose dependencies are the given group:artifact:version coordinates."""
    deps = []
    for coordinate in coordinates:
        group, artifact, version = coordinate.split(":")
        deps.append(
            f"    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version></dependency>"
        )
    body = "\n".join(deps)
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        f"  <groupId>paystream</groupId><artifactId>{name}</artifactId>"
        "<version>1</version><packaging>pom</packaging>\n"
        f"  <dependencies>\n{body}\n  </dependencies>\n</project>\n"
    )


def artifact_name(jar_file: str) -> str:
    """The artifact part of a jar file name: `kafka-clients-4.1.0.jar` -> `kafka-clients`."""
    return _JAR_VERSION.sub("", jar_file)


def jars_missing_from(candidates: Iterable[str], present: Iterable[str]) -> list[str]:
    """The candidate jar names whose artifact is not already among the present jars."""
    have = {artifact_name(name) for name in present}
    return sorted(name for name in candidates if artifact_name(name) not in have)


def cache_folder(jars_dir: Path, name: str, coordinates: Sequence[str]) -> Path:
    """The folder that holds one resolved set of coordinates."""
    digest = hashlib.sha256("\n".join(coordinates).encode()).hexdigest()[:12]
    return jars_dir / f"{name}-{digest}"


def resolve_jars(jars_dir: Path, name: str, coordinates: Sequence[str]) -> list[Path]:
    """Resolve coordinates and their runtime dependencies; return the cached jar paths."""
    folder = cache_folder(jars_dir, name, coordinates)
    lib = folder / "lib"
    done = folder / ".resolved"
    if not done.exists():
        if shutil.which("mvn") is None:
            raise PaystreamError(
                "Maven (mvn) not found: install it (apt-get install maven) to fetch the jars"
            )
        folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(lib, ignore_errors=True)
        (folder / "pom.xml").write_text(pom_xml(name, coordinates))
        log = folder / "mvn.log"
        with open(log, "w") as out:
            result = subprocess.run(
                [
                    "mvn", "-B", "-q", "-f", str(folder / "pom.xml"),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={lib}", "-DincludeScope=runtime",
                ],
                stdout=out, stderr=subprocess.STDOUT, check=False,
            )
        if result.returncode != 0:
            raise PaystreamError(f"could not resolve the {name} jars from Maven Central; see {log}")
        done.write_text("\n".join(coordinates) + "\n")
    return sorted(lib.glob("*.jar"))
