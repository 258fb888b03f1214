"""The Spark driver's JVM options: the class-data-sharing archive (named by what it was recorded
with, recorded by `paystream setup`, which `make test` runs first, and mapped by the suite's own
driver) and the profile's garbage collector."""

from __future__ import annotations

from pathlib import Path

from lakehouse.java import find_java
from lakehouse.settings import Settings, load_settings
from lakehouse.spark import class_archive, driver_java_options, session_jars


def test_the_driver_maps_an_archive_or_records_one_and_keeps_its_other_options() -> None:
    home = Path("/state/spark")
    assert driver_java_options(home) == "-Dderby.system.home=/state/spark -Xss16m"
    mapped = driver_java_options(home, Path("/jars/a.jsa")).split()
    assert mapped[:3] == ["-Dderby.system.home=/state/spark", "-Xss16m",
                          "-XX:SharedArchiveFile=/jars/a.jsa"]
    assert "-Xlog:cds=off" in mapped  # a stale archive is skipped without a word
    recorded = driver_java_options(home, Path("/jars/a.jsa"), Path("/jars/b.partial")).split()
    assert "-XX:ArchiveClassesAtExit=/jars/b.partial" in recorded
    assert not any(option.startswith("-XX:SharedArchiveFile") for option in recorded)
    parallel = driver_java_options(home, collector="Parallel").split()
    assert parallel == ["-Dderby.system.home=/state/spark", "-Xss16m", "-XX:+UseParallelGC"]


def test_another_jar_names_another_archive(tmp_path: Path) -> None:
    settings = load_settings(jars_dir=tmp_path)
    java = find_java()
    first = class_archive(settings, java, [Path("delta-spark_2.13-4.4.0.jar")])
    assert first == class_archive(settings, java, [Path("delta-spark_2.13-4.4.0.jar")])
    assert first.parent == tmp_path and first.suffix == ".jsa"
    assert class_archive(settings, java, [Path("delta-spark_2.13-4.4.1.jar")]) != first


def test_the_suites_driver_has_the_recorded_archive_mapped(spark, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    java = find_java()
    archive = class_archive(settings, java, session_jars(settings, java))
    assert archive.exists(), f"no {archive}: `paystream setup` records it"
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert str(archive) in maps


def test_the_suites_driver_runs_the_profiles_collector(spark, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    beans = spark.sparkContext._jvm.java.lang.management.ManagementFactory
    names = {bean.getName() for bean in beans.getGarbageCollectorMXBeans()}
    expected = {"G1": "G1 Young Generation", "Parallel": "PS Scavenge"}
    assert expected[settings.spark.garbage_collector] in names, names
