"""The one function that builds the Spark session: local, with Delta and the Kafka source."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.cloud_storage import lake_on_azure, spark_hadoop_options
from lakehouse.jars import jars_missing_from, resolve_jars
from lakehouse.java import find_java
from lakehouse.settings import CONFIG_DIR, Settings
from lakehouse.versions import jvm_versions

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakehouse.jvm_build import JavaTestRun

SCHEDULER_POOLS_FILE = CONFIG_DIR / "fairscheduler.xml"
"""The FAIR scheduler's pools: one per pipeline query (spark_jobs.pipeline)."""


def pyspark_jars_dir() -> Path:
    """The folder of jars that ships inside the pyspark wheel."""
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def spark_extra_jars(settings: Settings) -> list[Path]:
    """Delta and spark-sql-kafka with their dependencies, minus what pyspark already ships."""
    resolved = resolve_jars(settings.jars, "spark", jvm_versions().spark_packages)
    present = [jar.name for jar in pyspark_jars_dir().glob("*.jar")]
    keep = set(jars_missing_from([jar.name for jar in resolved], present))
    return [jar for jar in resolved if jar.name in keep]


def azure_storage_jars(settings: Settings) -> list[Path]:
    """hadoop-azure (ABFS) and its dependencies, minus what pyspark already ships."""
    resolved = resolve_jars(settings.jars, "azure", jvm_versions().azure_storage)
    present = [jar.name for jar in pyspark_jars_dir().glob("*.jar")]
    keep = set(jars_missing_from([jar.name for jar in resolved], present))
    return [jar for jar in resolved if jar.name in keep]


def paystream_jar(settings: Settings, java: Path | None = None) -> Path:
    """The project's own Java (the stateful query's keyed rules), compiled and cached."""
    from lakehouse.jvm_build import build_jar

    return build_jar("paystream-rules", java or find_java(),
                     sorted(pyspark_jars_dir().glob("*.jar")), settings.jars)


def paystream_java_tests(settings: Settings, java: Path | None = None) -> JavaTestRun:
    """The Java processor's JUnit tests, compiled against paystream_jar's jar and run."""
    from lakehouse.jvm_build import run_java_tests

    return run_java_tests("paystream-rules", java or find_java(),
                          sorted(pyspark_jars_dir().glob("*.jar")), settings.jars,
                          resolve_jars(settings.jars, "junit", jvm_versions().java_tests))


def local_master_plus(master: str, extra_threads: int) -> str:
    """A local master with extra task threads (real-time mode holds one per partition)."""
    import re

    match = re.fullmatch(r"local(?:\[(\*|\d+)\])?", master)
    if match is None or extra_threads <= 0:
        return master
    cores = match.group(1) or "1"
    threads = (os.cpu_count() or 1) if cores == "*" else int(cores)
    return f"local[{threads + extra_threads}]"


def session_jars(settings: Settings, java: Path) -> list[Path]:
    """The jars a session adds to pyspark's own: Delta, Kafka, ABFS for an Azure lake, ours."""
    return [*spark_extra_jars(settings),
            *(azure_storage_jars(settings) if lake_on_azure(settings) else []),
            paystream_jar(settings, java)]


CLASS_ARCHIVE_QUIET = ("-Xlog:cds=off", "-Xlog:cds+dynamic=off")
"""Class-data sharing is an optimisation: a missing or stale archive is skipped silently."""


def class_archive(settings: Settings, java: Path, jars: list[Path]) -> Path:
    """Where the driver's class-data-sharing archive lives, named by the JVM, pyspark and the
    jars it was recorded with, so a change of any of them names a new archive."""
    import hashlib

    import pyspark

    home = java.resolve().parent.parent
    libjvm = home / "lib" / "server" / "libjvm.so"
    stamp = str(libjvm.stat().st_mtime_ns) if libjvm.exists() else ""
    key = "\n".join([str(home), stamp, pyspark.__version__, *sorted(jar.name for jar in jars)])
    return settings.jars / f"spark-classes-{hashlib.sha256(key.encode()).hexdigest()[:12]}.jsa"


def shared_class_archive(settings: Settings, java: Path,
                         jars: list[Path] | None = None) -> Path | None:
    """The class archive `paystream setup` recorded for a session adding `jars` (default
    session_jars), when sharing is on and it exists."""
    archive = class_archive(settings, java, session_jars(settings, java) if jars is None else jars)
    return archive if settings.spark.class_data_sharing and archive.exists() else None


def class_archive_options(archive: Path | None) -> list[str]:
    """The JVM options that map `archive`: Spark's master, workers and executors start from
    the same jars as the driver, so they load most of their classes from its archive too."""
    return [] if archive is None else [f"-XX:SharedArchiveFile={archive}", *CLASS_ARCHIVE_QUIET]


def driver_java_options(spark_home: Path, archive: Path | None = None,
                        record_to: Path | None = None) -> str:
    """The driver JVM's options: Derby's home, a bigger thread stack, and the class archive to
    map (`archive`) or to write at exit (`record_to`)."""
    options = [f"-Dderby.system.home={spark_home}", "-Xss16m"]
    if record_to is not None:
        options += [f"-XX:ArchiveClassesAtExit={record_to}", *CLASS_ARCHIVE_QUIET]
    else:
        options += class_archive_options(archive)
    return " ".join(options)


def build_spark_session(settings: Settings, app_name: str = "paystream",
                        extra_threads: int = 0,
                        record_classes_to: Path | None = None) -> SparkSession:
    """Get or create the Spark session with Delta Lake and Kafka enabled.

    `extra_threads` adds task threads to a local master, for real-time mode's held slots.
    The driver maps the class archive `paystream setup` recorded, when there is one
    (`record_classes_to`: record a new one instead, written when the JVM exits).
    """
    from pyspark.sql import SparkSession

    java = find_java()
    os.environ.setdefault("JAVA_HOME", str(java.resolve().parent.parent))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    conf = settings.spark
    os.environ.setdefault("SPARK_LOCAL_IP", conf.driver_bind_address)  # loopback by default
    added = session_jars(settings, java)
    jars = ",".join(str(jar) for jar in added)
    shared = shared_class_archive(settings, java, added)
    spark_home = settings.home / "spark"
    warehouse = spark_home / "warehouse"
    local_dir = spark_home / "tmp"
    for folder in (warehouse, local_dir, settings.logs_dir):
        folder.mkdir(parents=True, exist_ok=True)
    on_cluster = conf.master.startswith("spark://")
    builder = (
        SparkSession.builder.appName(app_name)
        .master(conf.master if on_cluster else local_master_plus(conf.master, extra_threads))
        .config("spark.jars", jars)
        .config("spark.driver.memory", conf.driver_memory)
        .config("spark.driver.host", conf.driver_host)
        .config("spark.driver.bindAddress", conf.driver_bind_address)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog",
                "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(conf.shuffle_partitions))
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.local.dir", str(local_dir))
        # A bigger thread stack: the gold query's planning overflowed the default 1 MB.
        .config("spark.driver.extraJavaOptions",
                driver_java_options(spark_home, shared, record_classes_to))
        .config("spark.ui.enabled", str(conf.ui_enabled).lower())
        .config("spark.ui.showConsoleProgress", "false")
        # Several streaming queries share the session: each runs in its own pool, so the lake's
        # big batches never queue the alert queries' small ones (spark_jobs.pipeline).
        .config("spark.scheduler.mode", "FAIR")
        .config("spark.scheduler.allocation.file", str(SCHEDULER_POOLS_FILE))
        # Generated classes shared by every query: Spark's default of 100 thrashed across the
        # six queries (390 Janino compiles a minute at 1,000 events/s, each one also JIT work).
        .config("spark.sql.codegen.cache.maxEntries", "10000")
        .config("spark.databricks.delta.snapshotPartitions", "2")
        # The per-commit .crc checksum costs ~1 s a commit on 2 cores; readers do not need it.
        .config("spark.databricks.delta.writeChecksumFile.enabled", "false")
        # The pipeline localCheckpoints each batch; a JVM GC every few minutes frees them.
        .config("spark.cleaner.periodicGC.interval", "3min")
        .config("spark.databricks.delta.schema.autoMerge.enabled", "false")
        # Keyed state (the stateful alert query) in RocksDB, checkpointed as a changelog.
        .config("spark.sql.streaming.stateStore.providerClass",
                "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider")
        .config("spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled", "true")
        # Checkpoint files renamed through FileSystem, not FileContext: on a local disk the
        # FileContext rename forks `readlink` per file (several per batch and query), which
        # measured 50 ms of each offset and commit write.
        .config("spark.sql.streaming.checkpointFileManagerClass",
                "org.apache.spark.sql.execution.streaming.checkpointing."
                "FileSystemBasedCheckpointFileManager")
    )
    for key, value in spark_hadoop_options(settings).items():  # an abfss:// lake's account
        builder = builder.config(key, value)
    if on_cluster:  # executors: one core each, the same Python; spark.jars reach them too
        builder = (builder.config("spark.executor.memory", conf.executor_memory)
                   .config("spark.executor.cores", "1")
                   .config("spark.pyspark.python", sys.executable)
                   # Skipped silently on a worker whose JVM or files differ from the driver's.
                   .config("spark.executor.extraJavaOptions",
                           " ".join(class_archive_options(shared))))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


@contextlib.contextmanager
def spark_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """Set a session setting for the block, then put back what was there."""
    before = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def utc(moment: datetime) -> datetime:
    """A naive Spark timestamp (UTC session) as an aware UTC datetime."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
