"""Compile the project's own Java (the stateful query's keyed rules) into a cached jar.

The jar is named by a hash of the sources and of the classpath's jar names, so an
edit or a pyspark upgrade builds afresh; a build goes to a temporary folder and
is renamed into place, so two processes starting at once never see half a jar.
The same build compiles the processor's JUnit tests (tests/jvm) against that jar and
runs them with JUnit's console launcher; test classes never enter the jar.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import xml.etree.ElementTree as ElementTree
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from lakehouse.errors import PaystreamError

JAVA_SOURCES = Path(__file__).resolve().parent.parent / "spark_jobs" / "jvm"
"""The Java sources, shipped as package data of spark_jobs."""
JAVA_TESTS = Path(__file__).resolve().parent.parent / "tests" / "jvm"
"""The processor's JUnit tests: beside the Python tests, outside the shipped sources and the jar."""
JUNIT_LAUNCHER = "org.junit.platform.console.ConsoleLauncher"
"""The main class of junit-platform-console-standalone (pinned in [tool.paystream.jvm])."""
SHORT_JVM = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
"""For a JVM that lives seconds (javac, the test run): C1 only and the serial collector, about
twice as fast here; the classes javac writes are the same."""


def source_digest(sources: list[Path], classpath: list[Path]) -> str:
    """A short hash of the sources' text and the classpath's jar names."""
    digest = hashlib.sha256()
    for path in sorted(sources):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for jar in sorted(jar.name for jar in classpath):
        digest.update(jar.encode() + b"\0")
    return digest.hexdigest()[:12]


def javac_beside(java: Path) -> Path:
    """The javac of the JDK that `java` belongs to; raise if it is only a JRE."""
    found = java.resolve().parent / "javac"
    if not found.exists():
        raise PaystreamError(f"{java} has no javac beside it: install openjdk-17-jdk-headless "
                             "(a JDK, not only a JRE) or point JAVA_HOME at one")
    return found


def javac(java: Path, sources: list[Path], classpath: list[Path],
          classes: Path) -> subprocess.CompletedProcess[str]:
    """Compile sources for Java 17 into the classes folder (the result tells success)."""
    return subprocess.run(
        [str(javac_beside(java)), *(f"-J{flag}" for flag in SHORT_JVM),
         "-nowarn", "--release", "17", "-encoding", "UTF-8",
         "-d", str(classes), "-cp", os.pathsep.join(str(jar) for jar in classpath),
         *map(str, sources)],
        capture_output=True, text=True, check=False)


def build_jar(name: str, java: Path, classpath: list[Path], jars_dir: Path,
              sources_dir: Path = JAVA_SOURCES) -> Path:
    """The jar of the Java sources under sources_dir, compiled once per digest."""
    sources = sorted(sources_dir.rglob("*.java"))
    if not sources:
        raise PaystreamError(f"no Java sources under {sources_dir}: reinstall Paystream")
    target = jars_dir / f"{name}-{source_digest(sources, classpath)}.jar"
    if target.exists():
        return target
    javac_beside(java)
    jars_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=jars_dir) as scratch:
        classes = Path(scratch) / "classes"
        result = javac(java, sources, classpath, classes)
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


@dataclass(frozen=True)
class JavaTestRun:
    """What one run of the Java unit tests found: counts, each failure told, the launcher's log."""

    tests: int
    skipped: int
    failures: tuple[str, ...]
    output: str = field(repr=False)

    @property
    def passed(self) -> bool:
        """True when tests ran and none failed."""
        return self.tests > 0 and not self.failures

    def summary(self) -> str:
        """One line: how many Java tests ran, passed, failed and were skipped."""
        failed = len(self.failures)
        passed = self.tests - failed - self.skipped
        verdict = "passed" if self.passed else "FAILED"
        return (f"Java unit tests {verdict}: {self.tests} run, {passed} passed, "
                f"{failed} failed, {self.skipped} skipped")

    def report(self) -> str:
        """The summary line, then each failure: test, message, the project's stack frames."""
        return "\n".join([self.summary(), *self.failures])


def failures_in(report: ElementTree.Element) -> tuple[str, ...]:
    """Each failed or erroring test case of a JUnit XML report, told in a few lines."""
    told = []
    for case in report.iter("testcase"):
        for problem in (*case.findall("failure"), *case.findall("error")):
            test = f"{case.get('classname', '').removeprefix('paystream.')}.{case.get('name')}"
            message = problem.get("message") or problem.get("type") or "failed"
            frames = [line.strip() for line in (problem.text or "").splitlines()
                      if line.strip().startswith("at paystream.")][:3]
            told.append("\n    ".join([f"  {test}: {message}", *frames]))
    return tuple(told)


def read_test_reports(reports: Path, output: str) -> JavaTestRun:
    """The counts and failures of the JUnit XML reports in a folder."""
    files = sorted(reports.glob("TEST-*.xml"))
    if not files:
        raise PaystreamError(f"JUnit wrote no report; its output ends:\n{output[-2000:]}")
    tests = skipped = 0
    failures: tuple[str, ...] = ()
    for file in files:
        root = ElementTree.parse(file).getroot()
        for suite in root.iter("testsuite"):
            tests += int(suite.get("tests", "0"))
            skipped += int(suite.get("skipped", "0"))
        failures += failures_in(root)
    return JavaTestRun(tests=tests, skipped=skipped, failures=failures, output=output)


def run_java_tests(name: str, java: Path, classpath: list[Path], jars_dir: Path,
                   junit: list[Path], sources_dir: Path = JAVA_SOURCES,
                   tests_dir: Path = JAVA_TESTS) -> JavaTestRun:
    """Build the jar as build_jar does, compile tests_dir against it and run them with JUnit."""
    jar = build_jar(name, java, classpath, jars_dir, sources_dir)
    tests = sorted(tests_dir.rglob("*.java"))
    if not tests:
        raise PaystreamError(f"no Java tests under {tests_dir}")
    with tempfile.TemporaryDirectory(prefix=f"{name}-tests-") as scratch:
        classes, reports = Path(scratch) / "classes", Path(scratch) / "reports"
        compiled = javac(java, tests, [jar, *classpath, *junit], classes)
        if compiled.returncode != 0:
            raise PaystreamError(f"javac could not build the Java tests in {tests_dir}:\n"
                                 f"{(compiled.stdout + compiled.stderr)[-4000:]}")
        result = subprocess.run(
            [str(java), *SHORT_JVM,
             "-cp", os.pathsep.join(map(str, [*junit, classes, jar, *classpath])),
             JUNIT_LAUNCHER, "execute", "--scan-classpath", str(classes),
             "--disable-banner", "--disable-ansi-colors", "--details-theme=ascii",
             "--include-engine", "junit-jupiter", "--fail-if-no-tests",
             "--reports-dir", str(reports)],
            capture_output=True, text=True, check=False)
        run = read_test_reports(reports, result.stdout + result.stderr)
    if result.returncode != 0 and not run.failures:
        ended = f"  JUnit exited with {result.returncode}; its output ends:\n{run.output[-2000:]}"
        return replace(run, failures=(ended,))
    return run
