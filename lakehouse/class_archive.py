"""The Spark driver's class-data-sharing archive: recorded once by `paystream setup`, mapped by
every later driver (lakehouse.spark.build_spark_session) instead of loading and verifying
Spark's, Delta's and our classes again.

A driver loads about 20,000 classes before its first query; mapping them from the archive
takes about a third off a session start's CPU (measured in the README, "Class-data
sharing"). The archive is named by the JVM, pyspark and the
jars, so any change records a new one; a missing or stale archive is skipped silently.

`python -m lakehouse.class_archive PATH` records one: it starts a session that writes the
archive when its JVM exits, exercises Delta (batch and a stream) and waits for that exit.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from lakehouse.errors import PaystreamError
from lakehouse.settings import Settings, load_settings

RECORD_TIMEOUT_S = 900


def record_class_archive(settings: Settings) -> Path | None:
    """The driver's class archive, recorded now in a separate process unless it exists;
    None when class-data sharing is turned off."""
    from lakehouse.java import find_java
    from lakehouse.spark import class_archive, session_jars

    if not settings.spark.class_data_sharing:
        return None
    java = find_java()
    archive = class_archive(settings, java, session_jars(settings, java))
    if archive.exists():
        return archive
    partial = archive.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-m", "lakehouse.class_archive", str(partial)],
                          capture_output=True, text=True, timeout=RECORD_TIMEOUT_S)
    if done.returncode != 0 or not partial.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise PaystreamError(f"recording the Spark class archive failed: {last[:300]} (set "
                             "PAYSTREAM_SPARK__CLASS_DATA_SHARING=false to start without one)")
    partial.rename(archive)
    return archive


def exercise(spark: object, folder: Path) -> None:
    """Load what a pipeline driver loads: a partitioned Delta write, a read, and a stateful
    stream with a Delta sink in the session's state store."""
    from pyspark.sql import SparkSession

    assert isinstance(spark, SparkSession)
    table, counts = str(folder / "payments"), str(folder / "counts")
    (spark.range(2_000).selectExpr("id", "cast(id % 7 as string) AS user_id",
                                   "cast(id AS decimal(18,2)) AS amount_eur",
                                   "current_date() AS event_date")
     .write.format("delta").partitionBy("event_date").save(table))
    spark.read.format("delta").load(table).groupBy("user_id").sum("amount_eur").collect()
    query = (spark.readStream.format("delta").load(table).groupBy("user_id").count()
             .writeStream.format("delta").outputMode("complete")
             .option("checkpointLocation", str(folder / "checkpoint"))
             .trigger(availableNow=True).start(counts))
    query.awaitTermination()


def main(argv: list[str]) -> int:
    """Record the archive at argv[1]: run the exercise, stop, and wait for the JVM's exit."""
    from lakehouse.spark import build_spark_session

    target = Path(argv[1])
    settings = load_settings()
    spark = build_spark_session(settings, app_name="paystream-class-archive",
                                record_classes_to=target)
    jvm_process = spark.sparkContext._gateway.proc  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory() as folder:
        exercise(spark, Path(folder))
    spark.stop()
    jvm_process.stdin.close()  # the gateway exits on EOF, and writes the archive as it exits
    return int(jvm_process.wait(timeout=RECORD_TIMEOUT_S))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
