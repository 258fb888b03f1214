"""`paystream stream`: run the pipeline's queries in one process, each with its own checkpoint.

- `instant` (spark_jobs.instant_alerts): real-time mode, the one-payment rules.
- `stateful` (spark_jobs.stateful_alerts): keyed state, the rules that need
  history.
- `medallion` (spark_jobs.medallion): the lake, bronze -> silver -> gold.
- `alerts_postgres`, `alerts_gold` (spark_jobs.alert_sink): Kafka `alerts` on to
  PostgreSQL and gold.alerts.
`--query` runs one of them; `--layer` runs one lake layer as its own query fed
through Delta. With --available-now every query processes what is available and
exits, in the order above (the catch-up mode tests use). Without it they run
until SIGTERM or Ctrl-C, which stops them between batches, and the loop that
watches them also watches the rules file (a new version restarts `instant` and
`stateful` on its kept copy: lakehouse.rules_watch), gold.category_factors and the
champion of gold.risk_models (a new version of either restarts `stateful`).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lakehouse.catalog import Catalog
from lakehouse.errors import PaystreamError
from lakehouse.reference_stats import factors_version
from lakehouse.rules_watch import RulesVersion, RulesWatcher, snapshot_rules
from lakehouse.settings import Settings
from lakehouse.tables import (
    BRONZE_TRANSACTIONS_RAW,
    GOLD_ALERTS,
    SILVER_QUARANTINE,
    SILVER_TRANSACTIONS,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

LAYERS = ("bronze", "silver", "gold")


ALL_QUERIES = ("instant", "stateful", "medallion", "alerts_postgres", "alerts_gold",
               "decisions_postgres")
"""The queries of the whole pipeline, in the order a catch-up run (--available-now) runs them."""
JUDGING_QUERIES = ("instant", "stateful")
"""The queries that judge payments with the rules file: a new rules version restarts them."""


def _starter(name: str) -> Callable[[SparkSession, Settings, bool], StreamingQuery]:
    from lakehouse.rules import STREAMED_RULES
    from spark_jobs import (
        alert_sink,
        bronze_transactions_raw,
        decision_sink,
        gold_activity,
        instant_alerts,
        medallion,
        silver_transactions,
        stateful_alerts,
    )

    def bronze(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
        medallion.refuse_mixed_checkpoints(Catalog(settings.lake_location), "bronze")
        return bronze_transactions_raw.start(spark, settings, available_now,
                                             settings.pipeline.max_offsets_per_trigger)

    def silver(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
        medallion.refuse_mixed_checkpoints(Catalog(settings.lake_location), "silver")
        return silver_transactions.start(spark, settings, available_now)

    def alerts_postgres(spark: SparkSession, settings: Settings,
                        available_now: bool) -> StreamingQuery:
        return alert_sink.start_postgres(spark, settings, available_now, STREAMED_RULES)

    def alerts_gold(spark: SparkSession, settings: Settings,
                    available_now: bool) -> StreamingQuery:
        return alert_sink.start_gold(spark, settings, available_now, STREAMED_RULES)

    return {"bronze": bronze, "silver": silver, "gold": gold_activity.start,
            "medallion": medallion.start, "instant": instant_alerts.start,
            "stateful": stateful_alerts.start,
            "alerts_postgres": alerts_postgres, "alerts_gold": alerts_gold,
            "decisions_postgres": decision_sink.start}[name]


def queries_for(layers: Sequence[str], enabled_rules: Sequence[str],
                decisions: bool = True) -> list[str]:
    """The queries that run the given layers: all of them means the whole pipeline.

    An alert query whose rules are all disabled does not run, unless it also makes the risk
    decisions (`decisions`: pipeline.risk_decisions), which the decisions sink carries.
    """
    from lakehouse.rules import BEHAVIOUR_RULES, INSTANT_RULES, MERCHANT_RULES, USER_RULES

    ordered = [layer for layer in LAYERS if layer in layers]
    if ordered != list(LAYERS):
        return ordered
    families = {"instant": INSTANT_RULES,
                "stateful": USER_RULES + MERCHANT_RULES + BEHAVIOUR_RULES}
    return [name for name in ALL_QUERIES
            if (name != "decisions_postgres" or decisions)
            and (name not in families or set(families[name]) & set(enabled_rules)
                 or (name == "stateful" and decisions))]


KAFKA_SOURCE_SCHEMA = (
    "key binary, value binary, topic string, partition int, offset long, timestamp timestamp, "
    "timestampType int, headers array<struct<key: string, value: binary>>"
)


def ensure_tables(spark: SparkSession, settings: Settings) -> None:
    """Create the empty bronze and silver tables, so a downstream query can start first, and
    give the tables an earlier version created the columns declared since (the quarantine's
    replay columns, gold.alerts' rules_version)."""
    from lakehouse.stores import delta

    catalog = Catalog(settings.lake_location)
    delta.ensure_table(spark, catalog, BRONZE_TRANSACTIONS_RAW)
    delta.ensure_table(spark, catalog, SILVER_TRANSACTIONS)
    landed = delta.read_table(spark, catalog, SILVER_TRANSACTIONS).columns
    if "payload_sha256" not in landed:
        raise PaystreamError(
            f"{catalog.table(SILVER_TRANSACTIONS)} was written by an earlier Paystream "
            "(no payload_sha256 column): use a fresh PAYSTREAM_LAKE_ROOT")
    delta.ensure_table(spark, catalog, SILVER_QUARANTINE)
    # Before any query starts: adding columns beside a running writer would fail its commit.
    for table in (SILVER_QUARANTINE, GOLD_ALERTS):
        delta.add_missing_columns(spark, catalog, table)


def _enabled_rules(settings: Settings) -> list[str]:
    from lakehouse.rules import load_rules

    return [rule_id for rule_id, rule in load_rules(settings.rules_file).items() if rule.enabled]


def realtime_threads(settings: Settings) -> int:
    """Task threads real-time mode holds: one per `transactions` partition (0 when off)."""
    from lakehouse.rules import INSTANT_RULES
    from lakehouse.topics import topic_specs

    enabled = set(_enabled_rules(settings))
    if not settings.pipeline.instant_realtime or not set(INSTANT_RULES) & enabled:
        return 0
    specs = {spec.name: spec for spec in topic_specs(settings)}
    # One held slot per partition, plus slots for the other queries' tasks to start at once
    # (threads, not cores: they queue on the CPU instead of behind each other's stages).
    return specs["transactions"].partitions + len(ALL_QUERIES)


INTERRUPTED_WRITE_LOGGERS = {
    "org.apache.spark.util.Utils": "OFF",  # "Aborting task" with the interrupt's stack trace
    "org.apache.spark.sql.execution.datasources.v2.DataWritingSparkTask": "OFF",
    "org.apache.spark.sql.execution.datasources.v2.WriteToDataSourceV2Exec": "OFF",
    "org.apache.spark.scheduler.DAGScheduler": "ERROR",  # "Failed to cancel job group"
}
"""What a requested stop makes Spark log as errors: the real-time query's open batch (and any
micro-batch in flight) is interrupted and its commit aborted, which is the stop working."""


def quiet_interrupted_writes(spark: SparkSession) -> None:
    """Silence the loggers that report a requested stop's interrupted writes as errors.

    Not restored: tasks are still being interrupted after query.stop() returns, and the
    session's pipeline is ending.
    """
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    log4j = jvm.org.apache.logging.log4j
    for name, level in INTERRUPTED_WRITE_LOGGERS.items():
        log4j.core.config.Configurator.setLevel(name, log4j.Level.toLevel(level))


def _raise_if_failed(query: StreamingQuery) -> None:
    error = query.exception()
    if error is not None:
        message = " ".join(str(error).split())[:300]
        raise PaystreamError(f"the {query.name} query failed: {message}")


def run_pipeline(spark: SparkSession, settings: Settings, layers: Sequence[str],
                 available_now: bool, say: Callable[[str], None] = lambda _: None,
                 stop: threading.Event | None = None, queries: Sequence[str] = ()) -> None:
    """Run the given layers (or named queries); return when they finish or are stopped."""
    unknown = (set(layers) - set(LAYERS)) | (set(queries) - set(ALL_QUERIES))
    if unknown:
        raise PaystreamError(f"unknown layer or query: {', '.join(sorted(unknown))}")
    ensure_tables(spark, settings)
    queries_to_run = list(queries) if queries else queries_for(
        layers, _enabled_rules(settings), settings.pipeline.risk_decisions)
    live = go_live(settings, say) if set(JUDGING_QUERIES) & set(queries_to_run) else None
    judged = judged_with(settings, live)
    label = {"medallion": ", ".join(LAYERS)}
    if available_now:
        for name in queries_to_run:
            say(f"{label.get(name, name)}: processing everything available")
            spark.sparkContext.setLocalProperty("spark.scheduler.pool", name)
            query = _starter(name)(spark, judged if name in JUDGING_QUERIES else settings, True)
            query.awaitTermination()
            _raise_if_failed(query)
        return
    stop = stop or threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, request_stop) if in_main_thread else None
    running: dict[str, StreamingQuery] = {}

    def start(name: str) -> None:
        # Its own FAIR pool: a query's jobs inherit the pool of the thread that starts it.
        spark.sparkContext.setLocalProperty("spark.scheduler.pool", name)
        running[name] = _starter(name)(spark, judged if name in JUDGING_QUERIES else settings,
                                       False)

    watcher = RulesWatcher(live, settings.rules_versions_dir) if live else None
    next_poll = time.monotonic() + settings.pipeline.rules_poll_s
    factors_seen = (reference_versions(spark, settings) if "stateful" in queries_to_run
                    else None)
    # gold.category_factors gets a version a day (the reference_statistics DAG), the risk model
    # a champion now and then (risk_model_training); the stateful query reads both when it
    # starts, so a new version of either restarts it.
    next_factors_poll = time.monotonic() + settings.pipeline.factors_poll_s
    try:
        for name in queries_to_run:
            start(name)
            say(f"{label.get(name, name)}: running")
        while not stop.is_set():
            for query in running.values():
                if not query.isActive:
                    _raise_if_failed(query)
                    raise PaystreamError(f"the {query.name} query stopped")
            if watcher is not None and time.monotonic() >= next_poll:
                next_poll = time.monotonic() + settings.pipeline.rules_poll_s
                change = watcher.poll()
                if isinstance(change, PaystreamError):
                    say(f"rules: refused, version {judged_version(judged)} stays: {change}")
                elif change is not None:
                    judged = judged_with(settings, change)
                    wanted = list(queries) if queries else queries_for(
                        layers, _enabled_rules(judged), settings.pipeline.risk_decisions)
                    switch_rules(spark, settings, change, running, wanted, start, say)
            if "stateful" in running and time.monotonic() >= next_factors_poll:
                next_factors_poll = time.monotonic() + settings.pipeline.factors_poll_s
                newest = reference_versions(spark, settings)
                if newest != factors_seen:
                    changed = reference_change(factors_seen, newest)
                    factors_seen = newest
                    took = restart_queries(spark, running, ["stateful"], ["stateful"], start)
                    say(f"{changed} live: stateful restarted in {took:.1f} s")
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        spark.sparkContext.setLocalProperty("spark.scheduler.pool", None)  # type: ignore[arg-type]
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        if running:
            quiet_interrupted_writes(spark)
        for query in running.values():
            if query.isActive:
                query.stop()


def reference_versions(spark: SparkSession, settings: Settings) -> tuple[int | None, int | None]:
    """What the stateful query reads when it starts: the version of gold.category_factors and
    the live risk model's (None: none yet)."""
    from spark_jobs.risk_model import champion_version

    return factors_version(spark, settings), champion_version(spark, settings)


def reference_change(seen: tuple[int | None, int | None] | None,
                     newest: tuple[int | None, int | None]) -> str:
    """What changed between two reference_versions, as the log says it (pure):
    `category factors: version 3`, `risk model: version 2` (`(none)` once retired), or both."""
    before = seen or (None, None)
    parts = []
    if newest[0] != before[0]:
        parts.append(f"category factors: version {newest[0]}")
    if newest[1] != before[1]:
        parts.append(f"risk model: version {newest[1] if newest[1] is not None else '(none)'}")
    return ", ".join(parts)


def restart_queries(spark: SparkSession, running: dict[str, StreamingQuery],
                    stopped: Sequence[str], started: Sequence[str],
                    start: Callable[[str], None]) -> float:
    """Stop the `stopped` running queries, then start the `started` ones (each from its
    checkpoint); return the seconds it took."""
    began = time.monotonic()
    quiet_interrupted_writes(spark)  # the real-time query's open batch is interrupted
    for name in stopped:
        running.pop(name).stop()
    for name in started:
        start(name)
    return time.monotonic() - began


def go_live(settings: Settings, say: Callable[[str], None]) -> RulesVersion:
    """Check and keep the rules file's current version, record in PostgreSQL that it went
    live, and say so."""
    from lakehouse.stores import postgres

    live = snapshot_rules(settings.rules_file, settings.rules_versions_dir)
    postgres.record_rules_version(settings, live.version, live.text, str(live.source))
    say(f"rules: version {live.version} live ({live.source})")
    return live


def judged_with(settings: Settings, live: RulesVersion | None) -> Settings:
    """The settings the judging queries run with: the rules file is the kept copy of the live
    version (the settings as they are when no judging query runs)."""
    return settings if live is None else settings.model_copy(update={"rules_file": live.path})


def judged_version(judged: Settings) -> str:
    """The version the judging queries run (the name of their kept rules file)."""
    return judged.rules_file.stem


def switch_rules(spark: SparkSession, settings: Settings, new: RulesVersion,
                 running: dict[str, StreamingQuery], wanted: Sequence[str],
                 start: Callable[[str], None], say: Callable[[str], None]) -> None:
    """Stop the running judging queries and start those the new rules version wants
    (`wanted`: the queries the run would start with it), each from its checkpoint: what a
    query had read but not committed is judged again, by the new version, and the sinks keep
    each alert once by its id. The version is recorded as live before the queries stop."""
    from lakehouse.stores import postgres

    # Recorded first: the restarted queries' first alerts reach PostgreSQL within seconds.
    postgres.record_rules_version(settings, new.version, new.text, str(new.source))
    stopped = [name for name in JUDGING_QUERIES if name in running]
    started = [name for name in JUDGING_QUERIES if name in wanted]
    took = restart_queries(spark, running, stopped, started, start)
    left = [name for name in stopped if name not in started]
    say(f"rules: version {new.version} live ({new.source}): {', '.join(started) or 'no query'} "
        f"restarted in {took:.1f} s"
        + (f"; {', '.join(left)} stopped (no rule of theirs enabled)" if left else ""))
