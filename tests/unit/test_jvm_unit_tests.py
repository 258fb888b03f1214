"""The Java processor's JUnit tests (tests/jvm), compiled and run by the build that compiles it.

They judge the processor's pure logic directly (KeyedRules, Behaviour, Stages) with hand-written
expectations at each rule's thresholds; the Python tests hold its alerts equal to the Spark rules.
The module needs a JVM, so tests.tiers puts it in the spark tier (JVM_MODULES).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from lakehouse.jars import resolve_jars
from lakehouse.java import find_java
from lakehouse.jvm_build import run_java_tests
from lakehouse.settings import Settings
from lakehouse.spark import paystream_jar, paystream_java_tests, pyspark_jars_dir
from lakehouse.versions import jvm_versions

PLANTED = """package paystream;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class PlantedTest {
  @Test
  void holds() {
    assertEquals(2, 1 + 1);
  }

  @Test
  void expectsTheWrongAlertId() {
    assertEquals("not-the-id", Stages.alertId("velocity", "tx1"));
  }
}
"""


def test_the_java_unit_tests_all_pass(settings: Settings) -> None:
    run = paystream_java_tests(settings)
    assert run.passed, run.report()
    assert run.tests > 0 and run.skipped == 0, run.summary()


def test_the_processor_jar_holds_no_test_class_and_no_junit(settings: Settings) -> None:
    with zipfile.ZipFile(paystream_jar(settings)) as jar:
        names = jar.namelist()
    assert "paystream/KeyedRules.class" in names
    assert not [n for n in names if n.endswith("Test.class") or "junit" in n.lower()]


def test_a_failing_java_test_fails_the_run_with_one_line_and_its_details(
        settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "paystream").mkdir()
    (tmp_path / "paystream" / "PlantedTest.java").write_text(PLANTED)
    run = run_java_tests("paystream-rules", find_java(), sorted(pyspark_jars_dir().glob("*.jar")),
                         settings.jars,
                         resolve_jars(settings.jars, "junit", jvm_versions().java_tests),
                         tests_dir=tmp_path)
    assert not run.passed
    summary, *details = run.report().splitlines()
    assert summary == "Java unit tests FAILED: 2 run, 1 passed, 1 failed, 0 skipped"
    assert details[0].startswith("  PlantedTest.expectsTheWrongAlertId(): expected: <not-the-id>")
    assert "at paystream.PlantedTest.expectsTheWrongAlertId(PlantedTest.java:" in details[1]
