"""Compile the project's own Java (the stateful query's keyed rules) into a cached jar.

The jar is named by a hash of the sources and of the classpath's jar names, so an
edit or a pyspark upgrade builds afresh; a build goes to a temporary folder and
is renamed into place, so two processes starting at once never see half a jar.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import zipfile
from pathlib import Path

from lakehouse.errors import PaystreamError

JAVA_SOURCES = Path(__file__).resolve().parent.parent / "spark_jobs" / "jvm"
"""The Java sources, shipped as package data of spark_jobs."""


def source_digest(sources: list[Path], classpath: list[Path]) -> str:
    """A short hash of the sources' text and the classpath's jar names."""
    digest = hashlib.sha256()
    for path in sorted(sources):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for jar in sorted(jar.name for jar in classpath):
        digest.update(jar.encode() + b"\0")
    return digest.hexdigest()[:12]


def build_jar(name: str, java: Path, classpath: list[Path], jars_dir: Path,
              sources_dir: Path = JAVA_SOURCES) -> Path:
    """The jar of the Java sources under sources_dir, compiled once per digest."""
    sources = sorted(sources_dir.rglob("*.java"))
    if not sources:
        raise PaystreamError(f"no Java sources under {sources_dir}: reinstall Paystream")
    target = jars_dir / f"{name}-{source_digest(sources, classpath)}.jar"
    if target.exists():
        return target
    javac = java.resolve().parent / "javac"
    if not javac.exists():
        raise PaystreamError(f"{java} has no javac beside it: install openjdk-17-jdk-headless "
                             "(a JDK, not only a JRE) or point JAVA_HOME at one")
    jars_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=jars_dir) as scratch:
        classes = Path(scratch) / "classes"
        result = subprocess.run(
            [str(javac), "-nowarn", "--release", "17", "-encoding", "UTF-8", "-d", str(classes),
             "-cp", os.pathsep.join(str(jar) for jar in classpath), *map(str, sources)],
            capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = jars_dir / f"{name}-javac.log"
            log.write_text(result.stdout + result.stderr)
            raise PaystreamError(f"javac could not build {name} from {sources_dir}; see {log}")
        staged = Path(scratch) / target.name
        with zipfile.ZipFile(staged, "w", zipfile.ZIP_DEFLATED) as jar:
            jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
            for path in sorted(classes.rglob("*.class")):
                jar.write(path, path.relative_to(classes).as_posix())
        os.replace(staged, target)
    return target
