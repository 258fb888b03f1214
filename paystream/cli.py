"""`paystream`: the one console script. Every command has --help and fails with one line.

Commands import their heavy dependencies (Spark, Airflow, Streamlit) only when they run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, NoReturn

from lakehouse.errors import PaystreamError
from lakehouse.settings import Settings, load_settings


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _say(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    """Start the local services, wait until they answer, migrate, print where they run."""
    from paystream.runtime import services

    report = services.up(settings, say=_say)
    for name, seconds in report.started.items():
        print(f"started {name} in {seconds:.1f} s")
    for name in report.already_running:
        print(f"{name} was already running")
    if report.migrations_applied:
        print(f"applied migrations: {', '.join(report.migrations_applied)}")
    _print_status(services.status(settings))
    return 0


def cmd_down(settings: Settings, args: argparse.Namespace) -> int:
    """Stop what `up` started in this state folder."""
    from paystream.runtime import services

    stopped = services.down(settings)
    print(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


def _print_status(state: dict[str, Any]) -> None:
    kafka, pg, airflow = state["kafka"], state["postgres"], state["airflow"]
    mark = {True: "up", False: "DOWN"}
    bootstrap = kafka["bootstrap"]
    if kafka.get("security_protocol", "PLAINTEXT") != "PLAINTEXT":
        login = (f" {kafka['sasl_mechanism']} as {kafka['sasl_username']}"
                 if kafka.get("sasl_mechanism") else "")
        bootstrap += f" ({kafka['security_protocol']}{login})"
    rows = [("kafka", mark[kafka["up"]], bootstrap, kafka["log"]),
            ("postgres", mark[pg["up"]], pg["dsn"], pg["log"]),
            ("airflow", "up" if airflow["up"] else "off", airflow["url"], airflow["log"])]
    if kafka.get("embedded") and len(kafka.get("pids", {})) > 1:
        rows[0] = ("kafka", mark[kafka["up"]],
                   f"{bootstrap} ({kafka['brokers']} of {len(kafka['pids'])} brokers)",
                   kafka["log"])
    if "spark" in state:
        spark = state["spark"]
        rows.append(("spark", mark[spark["up"]], f"{spark['master']} ({spark['alive_workers']} "
                     f"of {spark['workers']} workers alive, UI {spark['ui']})",
                     spark["logs"]["master"]))
    for name, part in state["parts"].items():
        where = part.get("url") or (f"pid {part['pid']}" if part["pid"] else "-")
        if part.get("url") and part["pid"]:
            where += f" (pid {part['pid']})"
        rows.append((name, "up" if part["up"] else part["state"].lower(), where, part["log"]))
    width = max(len(row[2]) for row in rows)
    print(f"{'part':<10} {'state':<9} {'where':<{width}}  log")
    for name, up, where, log in rows:
        print(f"{name:<10} {up:<9} {where:<{width}}  {log}")
    print(f"lake       {state['lake_root']}")
    print(f"read-only  {pg['readonly_dsn']} (the dashboard's role)")


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Run the whole platform: services, topics, Airflow, stream, producer, dashboard."""
    from expectations.runner import gx_project_dir
    from paystream.runtime import airflow_server, demo, services

    report = demo.run_demo(settings, say=_say)
    if report.already_running:
        print(f"already running: {', '.join(report.already_running)}")
    if report.started:
        print(f"started: {', '.join(report.started)}")
    for failure in report.failures:
        print(f"FAILED {failure}", file=sys.stderr)
    print()
    _print_status(services.status(settings))
    airflow = airflow_server.info(settings)
    if airflow.password:
        print(f"airflow login  {airflow.user} / {airflow.password}")
    if demo.FIRST_DQ in report.triggered:
        print("data quality   a first run of the suites started now, in the background; "
              "then hourly by Airflow")
    if "airflow" in report.started:
        print("dags           unpaused: data quality, yesterday's report, maintenance and "
              "reference statistics run now"
              + (", with a report of today so far" if demo.TODAYS_REPORT in report.triggered
                 else ""))
    docs = gx_project_dir(settings) / "gx/uncommitted/data_docs/local_site/index.html"
    print(f"data docs      {docs}")
    print('query the lake paystream sql "SELECT rule_id, count(*) FROM gold_alerts GROUP BY 1"')
    if report.first_alert_s is not None:
        print(f"first alert    in PostgreSQL {report.first_alert_s:.1f} s after the producer "
              f"started ({report.total_s:.0f} s for the whole start)")
    print("stop it all    paystream down   (one part: paystream stop producer)")
    return 1 if report.failures else 0


def cmd_start(settings: Settings, args: argparse.Namespace) -> int:
    """Start one supervised part (producer, stream or dashboard)."""
    from paystream.runtime import supervised

    if args.part == "dashboard":
        from paystream.runtime.demo import dashboard_preflight

        if not supervised.part_states(settings)["dashboard"].up:
            dashboard_preflight(settings)
    state = supervised.start_part(settings, args.part)
    print(f"{args.part} {state.state.lower()} (pid {state.pid}, log {state.log})")
    return 0


def cmd_stop(settings: Settings, args: argparse.Namespace) -> int:
    """Stop one supervised part; the stream finishes its batch first."""
    from paystream.runtime import supervised

    was_running = supervised.stop_part(settings, args.part)
    print(f"{args.part} {'stopped' if was_running else 'was not running'}")
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    """Say what runs where; exit 1 when a service is down."""
    from paystream.runtime import services

    state = services.status(settings)
    if args.json:
        print(json.dumps(state, indent=2))
    else:
        _print_status(state)
    return 0 if state["kafka"]["up"] and state["postgres"]["up"] else 1


def cmd_topics(settings: Settings, args: argparse.Namespace) -> int:
    """Create or reconcile the topics in the topics file."""
    from pathlib import Path

    from lakehouse.topics import load_topic_specs, reconcile_topics

    path = Path(args.file) if args.file else settings.kafka.topics_file
    specs = load_topic_specs(path, settings.kafka.replication_factor,
                             settings.kafka.min_insync_replicas)
    changes = reconcile_topics(settings.kafka, specs, dry_run=args.dry_run)
    managed = settings.kafka.manage_topics
    verb = "would apply" if args.dry_run else "applied" if managed else "differs (not managed)"
    for change in changes:
        label = verb if change.applies else "cannot fix"
        print(f"{change.topic:<24} {label}: {change.action} ({change.detail})")
    if not changes:
        print(f"no changes: {len(specs)} topics match {path}")
    elif not managed:
        print("PAYSTREAM_KAFKA__MANAGE_TOPICS is false: change the topics in their template")
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Apply the payments schema (idempotent; `up` runs it too)."""
    from lakehouse.postgres_schema import migrate

    applied = migrate(settings)
    print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")
    return 0


def cmd_setup(settings: Settings, args: argparse.Namespace) -> int:
    """Resolve and cache the Kafka and Spark jars from Maven Central; record the class archive."""
    from lakehouse.class_archive import record_class_archive
    from lakehouse.cloud_storage import lake_on_azure
    from lakehouse.java import find_java
    from lakehouse.spark import (
        azure_storage_jars,
        class_archive,
        paystream_jar,
        session_jars,
        spark_extra_jars,
    )
    from paystream.runtime.kafka_broker import broker_classpath

    _say("resolving Kafka broker jars")
    kafka_jars = broker_classpath(settings).count(":") + 1
    _say("resolving Spark package jars (Delta, spark-sql-kafka)")
    spark_jars = len(spark_extra_jars(settings))
    _say("compiling the stateful rules (spark_jobs/jvm)")
    own = paystream_jar(settings).name
    azure = ""
    if args.azure or lake_on_azure(settings):
        _say("resolving the ABFS connector (hadoop-azure)")
        azure = f", azure storage {len(azure_storage_jars(settings))}"
    archive = class_archive(settings, find_java(), session_jars(settings, find_java()))
    if settings.spark.class_data_sharing and not archive.exists():
        _say("recording the Spark driver's classes (a class-data-sharing archive, once)")
    archive_path = record_class_archive(settings)
    print(f"jars cached under {settings.jars}: kafka {kafka_jars}, spark extras {spark_jars}"
          f"{azure}, {own}" + (f", {archive_path.name}" if archive_path else ""))
    return 0


def cmd_produce(settings: Settings, args: argparse.Namespace) -> int:
    """Send synthetic or replayed payment events to Kafka."""
    if args.rebase_time and not args.replay:
        raise PaystreamError("--rebase-time shifts a replayed file's times: give --replay FILE")
    from pathlib import Path

    from producer.main import ProduceRequest, run_produce

    request = ProduceRequest(
        topic=args.topic, rate=args.rate, count=args.count, duration_s=args.duration,
        seed=args.seed, fraud_rate=args.fraud_rate, fault_rate=args.fault_rate,
        scenarios=args.scenarios, faults=args.faults, start=args.start, speedup=args.speedup,
        users=args.users, replay=Path(args.replay) if args.replay else None, mapping=args.map,
        rules_file=settings.rules_file,
        rebase_time=args.rebase_time,
        progress=not args.quiet,
    )
    summary = run_produce(settings, request)
    for line in summary.lines():
        print(line)
    if summary.errors:
        raise PaystreamError(
            f"{summary.errors:,} of {summary.sent:,} events were not acknowledged by Kafka at "
            f"{settings.kafka.bootstrap_servers} after retries ({summary.first_error}); "
            f"they are saved in {summary.spill_file}")
    return 130 if summary.interrupted and not summary.terminated else 0


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    """Run a benchmark and print each figure beside its ceiling."""
    from benchmarks.produce import bench_produce, bench_settings_line

    if args.target == "dashboard":
        from benchmarks.dashboard import bench_dashboard

        _say(f"bench dashboard: {args.alerts:,} synthetic alerts in PostgreSQL, every page "
             f"rendered {args.runs} times")
        for timing in bench_dashboard(settings, alerts=args.alerts, runs=args.runs):
            print(f"{timing.page:<16} p50 {timing.p50_ms:>7,.0f} ms   p95 {timing.p95_ms:>7,.0f} ms"
                  f"   ({timing.runs} renders)")
        return 0
    if args.target == "replay":
        from benchmarks.replay import bench_replay

        _say(f"bench replay: history files of {args.count:,} and {args.count * 10:,} payments, "
             "each replayed (sorted, streamed) in a fresh process")
        for replayed in bench_replay(args.count):
            print(f"{replayed.rows:>10,} rows  {replayed.file_mb:7.1f} MB file  peak RSS "
                  f"{replayed.peak_rss_mb:6.1f} MB  {replayed.rows_per_s:>9,.0f} rows/s")
        return 0
    if args.target == "sql":
        from benchmarks.sql import bench_sql

        _say(f"bench sql: a {args.rows:,}-row gold.alerts table (written once), each query "
             "5 times as a whole process both ways")
        for query in bench_sql(settings, rows=args.rows):
            print(f"{query.name:<34} paystream sql {query.paystream_s:6.2f} s   plain DuckDB "
                  f"{query.duckdb_s:6.2f} s   ({query.ratio:.2f}x)")
        return 0
    if args.target == "e2e":
        from pathlib import Path

        from benchmarks.e2e import bench_e2e

        _say(f"bench e2e: {args.rate:,.0f} events/s for {args.duration:.0f} s through the "
             "whole pipeline; this takes a few minutes")
        for line in bench_e2e(settings, rate=args.rate, duration_s=args.duration,
                              lake_rows=args.lake_rows,
                              model_from=Path(args.model_from) if args.model_from else None
                              ).lines():
            print(line)
        return 0
    _say(f"bench produce: {args.count:,} events per figure; this takes a minute")
    figures = bench_produce(settings, count=args.count, partitions=args.partitions, seed=args.seed)
    print(bench_settings_line(args.count, args.partitions, client=settings.kafka.client))
    width = max(len(f.name) for f in figures)
    for figure in figures:
        print(f"{figure.name:<{width}}  {figure.events_per_s:>10,.0f} events/s   {figure.note}")
    produce = next(f for f in figures if f.name.startswith("paystream produce"))
    target = 25_000
    verdict = "meets" if produce.events_per_s >= target else "is below"
    print(f"paystream produce {verdict} the {target:,} events/s target")
    return 0


def cmd_stream(settings: Settings, args: argparse.Namespace) -> int:
    """Run the streaming pipeline: bronze, silver and gold, or one layer."""
    import logging

    from lakehouse.spark import build_spark_session
    from spark_jobs.pipeline import LAYERS, realtime_threads, run_pipeline

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    layers = [args.layer] if args.layer else list(LAYERS)
    queries = [args.query] if args.query else []
    held = 0 if args.available_now or args.layer or (queries and queries != ["instant"]) \
        else realtime_threads(settings)
    spark = build_spark_session(settings, app_name="paystream-stream", extra_threads=held)
    try:
        run_pipeline(spark, settings, layers, args.available_now, say=_say, queries=queries)
    finally:
        spark.stop()
    what = ", ".join(queries or layers)
    print(f"stream: {what} {'caught up' if args.available_now else 'stopped'}")
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Load a (labelled) history file into bronze and silver as a batch job."""
    from pathlib import Path

    from lakehouse.history_files import parse_mapping
    from lakehouse.spark import build_spark_session
    from spark_jobs.history_import import ImportRequest, label_timing_error, run_import

    request = ImportRequest(Path(args.file), parse_mapping(args.map), args.label_column,
                            args.scenario_column, args.chunk_rows, args.labelled_at_column,
                            args.label_delay)
    if not request.path.exists():
        raise PaystreamError(f"file {request.path} does not exist")
    timing_error = label_timing_error(request)
    if timing_error:
        raise PaystreamError(timing_error)
    _say(f"importing {request.path} in chunks of {request.chunk_rows:,} rows")
    spark = build_spark_session(settings, app_name="paystream-import")
    try:
        summary = run_import(spark, settings, request,
                             progress=lambda rows: _say(f"{rows:,} rows imported"))
    finally:
        spark.stop()
    reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.reasons.items())) or "none"
    print(f"imported {summary.rows:,} rows in {summary.chunks} chunks: silver +{summary.silver:,}, "
          f"quarantined {summary.quarantined:,} ({reasons}), resends skipped "
          f"{summary.resends:,}, labels {summary.labels:,}")
    return 0


def cmd_history(settings: Settings, args: argparse.Namespace) -> int:
    """Write a generated, labelled history to backtest on, and its delayed chargeback file."""
    from datetime import timedelta
    from pathlib import Path

    from producer.generator import ALL_SCENARIOS, GeneratorOptions
    from producer.history import DEFAULT_MAX_DAYS, LOCATION_MAP, LabelDelay, write_history
    from producer.main import pick_names
    from producer.rule_params import load_scenario_params

    for name in ("days", "per_day", "users", "merchants"):
        if getattr(args, name) <= 0:
            raise PaystreamError(f"--{name.replace('_', '-')} must be positive")
    shape = args.label_delay_shape
    mean_days = (args.label_delay_days if args.label_delay_days is not None
                 else 3.0 if shape == "fixed" else 4.0)
    max_days = (args.label_delay_max if args.label_delay_max is not None
                else DEFAULT_MAX_DAYS[shape])
    if mean_days <= 0:
        raise PaystreamError("--label-delay-days must be positive")
    if max_days <= 0:
        raise PaystreamError("--label-delay-max must be positive")
    start = (datetime.combine(args.start, datetime.min.time(), UTC) if args.start
             else datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
             - timedelta(days=args.days))
    try:
        options = GeneratorOptions(
            seed=args.seed, fraud_rate=args.fraud_rate, fault_rate=0.0,
            scenarios=pick_names(args.scenarios, ALL_SCENARIOS, "scenarios"), start=start,
            step_seconds=86_400 / args.per_day, n_users=args.users, n_merchants=args.merchants,
            params=load_scenario_params(settings.rules_file),
            varied_intensity=args.varied_intensity)
    except ValueError as error:
        raise PaystreamError(str(error)) from error
    payments = Path(args.file)
    labels = Path(args.labels) if args.labels else payments.with_name(
        payments.stem + "-chargebacks.csv")
    unreported = (payments.with_name(payments.stem + "-unreported.csv")
                  if args.unreported_share else None)
    _say(f"writing {args.days * args.per_day:,} payments from {start:%Y-%m-%d}")
    summary = write_history(payments, labels, options, args.days * args.per_day,
                            LabelDelay(mean_days=mean_days, max_days=max_days, shape=shape),
                            args.unreported_share, unreported)
    truth = (f" and the truth of {summary.unreported:,} frauds never reported to {unreported} "
             f"(dated 2999-12-31: scored by a backtest, never known to a rule)"
             if unreported else "")
    load = f" && paystream label {unreported} --source truth" if unreported else ""
    print(f"wrote {summary.payments:,} payments ({summary.frauds:,} fraud) to {payments}, "
          f"their chargebacks to {labels}{truth}; load them with: paystream import {payments} "
          f"--map {LOCATION_MAP} --scenario-column scenario && paystream label {labels}{load}")
    return 0


def cmd_label(settings: Settings, args: argparse.Namespace) -> int:
    """Load a label file (chargebacks, investigations), or the analysts' dispositions, into
    gold.labels and Kafka `labels`."""
    from pathlib import Path

    from lakehouse.spark import build_spark_session
    from spark_jobs.gold_labels import run_label_file, sync_dispositions

    if bool(args.file) == bool(args.dispositions):
        raise PaystreamError("name a label FILE or --dispositions (one of them)")
    path = Path(args.file) if args.file else None
    if path is not None and not path.exists():
        raise PaystreamError(f"file {path} does not exist")
    spark = build_spark_session(settings, app_name="paystream-label")
    try:
        if path is None:
            synced, pending = sync_dispositions(spark, settings)
            print(f"dispositions: {synced:,} carried into gold.labels, {pending:,} wait for "
                  "their payment to reach silver")
            return 0
        summary = run_label_file(spark, settings, path, args.source or f"labels:{path.name}",
                                 time_column=args.time_column)
    finally:
        spark.stop()
    rejected = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.rejected.items())) or "none"
    print(f"labelled {summary.fraud + summary.legit:,} of {summary.rows:,} rows: fraud "
          f"{summary.fraud:,}, legit {summary.legit:,}; not loaded: {rejected}")
    return 0


def cmd_quarantine(settings: Settings, args: argparse.Namespace) -> int:
    """List silver.quarantine by day and reason, or replay the selected records to Kafka."""
    from lakehouse.quarantine import ReplayRequest
    from lakehouse.sql_shell import aligned_table
    from spark_jobs.quarantine_replay import replay, summary

    request = ReplayRequest(reason=args.reason, since=args.since,
                            include_replayed=getattr(args, "include_replayed", False))
    counts = summary(settings, request)
    if args.action == "list":
        if not counts:
            print("no quarantined records match")
            return 0
        print(aligned_table(["day", "reason", "records", "replayed"],
                            [[c.day, c.reason, f"{c.rows:,}", f"{c.replayed:,}"] for c in counts]))
        return 0
    selected = sum(c.rows - (0 if request.include_replayed else c.replayed) for c in counts)
    if not selected:
        print("no quarantined records to replay (add --include-replayed to send replayed "
              "ones again)")
        return 0
    if args.dry_run:
        print(f"would replay {selected:,} quarantined records to transactions")
        return 0
    from lakehouse.spark import build_spark_session

    _say(f"quarantine: replaying {selected:,} records to transactions")
    spark = build_spark_session(settings, app_name="paystream-quarantine-replay")
    try:
        result = replay(spark, settings, request)
    finally:
        spark.stop()
    print(f"replayed {result.sent:,} quarantined records to transactions as {result.replay_id}; "
          "the stream lands each in silver or quarantines it again")
    return 0


def cmd_backtest(settings: Settings, args: argparse.Namespace) -> int:
    """Score a rule set (and optionally a candidate, or a parameter sweep) on labelled silver."""
    from pathlib import Path

    from lakehouse.spark import build_spark_session
    from spark_jobs.backtest_job import BacktestRequest, check_request, run_backtest_job

    request = BacktestRequest(
        Path(args.rules) if args.rules else settings.rules_file, args.date_from, args.date_to,
        Path(args.compare) if args.compare else None, args.sweep,
        Path(args.html) if args.html else None, args.model, args.compare_model)
    check_request(request)  # a missing file or a wrong --sweep fails before Spark starts
    spark = build_spark_session(settings, app_name="paystream-backtest")
    try:
        outcome = run_backtest_job(spark, settings, request, say=_say)
    finally:
        spark.stop()
    if args.format == "json":
        print(json.dumps(outcome.document, indent=2))
    else:
        print(f"{outcome.text}\n\nHTML report: {outcome.html}")
    if args.open:
        import webbrowser

        webbrowser.open(outcome.html.resolve().as_uri())
    return 0


def cmd_tune(settings: Settings, args: argparse.Namespace) -> int:
    """Choose rule parameters on a training period and report them on a later test period."""
    from pathlib import Path

    from lakehouse.spark import build_spark_session
    from spark_jobs.tuning import (
        TuneRequest,
        check_request,
        format_outcome,
        grid_points,
        run_tune,
    )

    rules_file = Path(args.rules) if args.rules else settings.rules_file
    if not rules_file.exists():
        raise PaystreamError(f"rules file {rules_file} does not exist")
    out = Path(args.out) if args.out else (
        settings.home / "tuned" / f"rules-{datetime.now(UTC):%Y%m%dT%H%M%S}Z.yaml")
    request = TuneRequest(rules_file, (args.train_from, args.train_to),
                          (args.test_from, args.test_to), tuple(args.grid or ()),
                          args.min_precision, out)
    check_request(request, settings.rules_file)
    from lakehouse.rules import load_rules

    points = grid_points(load_rules(rules_file), request.grids)  # before Spark starts
    _say(f"tune: {len(points)} combinations on {args.train_from}..{args.train_to}, then "
         f"the test period {args.test_from}..{args.test_to}")
    spark = build_spark_session(settings, app_name="paystream-tune")
    try:
        outcome = run_tune(spark, settings, request, say=_say)
    finally:
        spark.stop()
    print(format_outcome(outcome, request))
    print(f"\ncandidate rules file: {outcome.out} (the live rules are unchanged)\n"
          f"report of both periods: {outcome.html}")
    return 0


def cmd_model(settings: Settings, args: argparse.Namespace) -> int:
    """Train, list, promote or retire the learned risk model (gold.risk_models)."""
    from lakehouse.spark import build_spark_session
    from spark_jobs import risk_model_registry as registry
    from spark_jobs import risk_model_training as training
    from spark_jobs.risk_model import registry_rows

    if args.action == "promote" and args.version is None:
        raise PaystreamError("model promote needs --version N (`paystream model list`)")
    spark = build_spark_session(settings, app_name="paystream-model")
    try:
        if args.action == "list":
            print(registry.format_registry(registry_rows(spark, settings)))
        elif args.action == "retire":
            version = registry.retire(spark, settings)
            print("no model is live" if version is None else
                  f"risk model version {version} retired: the rules alone decide")
        elif args.action == "promote":
            print(training.format_verdict(training.promote_if_better(
                spark, settings, args.version, _say, force=args.force)))
        else:
            periods = training.requested_periods(
                spark, settings, args.train_from, args.train_to, args.valid_from, args.valid_to,
                args.known_at)
            trained = training.train_model(spark, settings, periods, _say)
            print(training.describe(trained))
            if not args.no_promote:
                print(training.format_verdict(training.promote_if_better(
                    spark, settings, trained.version, _say)))
    finally:
        spark.stop()
    return 0


def cmd_backfill(settings: Settings, args: argparse.Namespace) -> int:
    """Recompute gold for a date (or a range) from silver and write its daily report."""
    from datetime import timedelta

    from lakehouse.spark import build_spark_session
    from spark_jobs.daily_report import run

    last = args.to or args.date
    if last < args.date:
        raise PaystreamError(f"--to {last} is before --date {args.date}")
    spark = build_spark_session(settings, app_name="paystream-backfill")
    try:
        day = args.date
        while day <= last:
            report = run(spark, settings, day)
            print(f"{day}: {report['payments']:,} payments, {report['streamed_alerts']:,} "
                  f"streamed alerts, {report['batch_alerts']:,} batch alerts "
                  f"({report['alerts_only_batch']:,} only in batch, "
                  f"{report['alerts_only_streamed']:,} only streamed)")
            day += timedelta(days=1)
    finally:
        spark.stop()
    return 0


def cmd_dq(settings: Settings, args: argparse.Namespace) -> int:
    """Run the Great Expectations suites and print a summary; fail on a critical expectation."""
    from expectations.runner import new_run_id, record_outcomes, run_suites, summary_lines
    from lakehouse.spark import build_spark_session

    _say("dq: validating the lake tables")
    spark = build_spark_session(settings, app_name="paystream-dq")
    try:
        outcomes = run_suites(spark, settings)
    finally:
        spark.stop()
    if not args.no_record:
        record_outcomes(settings, outcomes, new_run_id())
    for line in summary_lines(outcomes):
        print(line)
    if not outcomes:
        print("no tables yet: run `paystream stream` first")
    elif outcomes[0].docs_url:
        print(f"data docs: {outcomes[0].docs_url}")
    failed = [f"{o.suite}: {name}" for o in outcomes for name in o.failed_critical]
    if failed:
        raise PaystreamError(f"{len(failed)} critical expectation(s) failed: {failed[0]}"
                             + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""))
    return 0


def cmd_sql(settings: Settings, args: argparse.Namespace) -> int:
    """Run SQL on the Delta tables through DuckDB, or open a prompt."""
    from lakehouse.sql_shell import (
        connect_lake,
        format_result,
        interactive,
        run_query,
        tables_named_in,
    )

    if args.query is None:
        interactive(connect_lake(settings), args.format)
        return 0
    conn = connect_lake(settings, tables_named_in(args.query))  # only what the query reads
    print(format_result(run_query(conn, args.query), args.format))
    return 0


def cmd_dashboard(settings: Settings, args: argparse.Namespace) -> int:
    """Run the Streamlit dashboard on loopback; unknown options go to streamlit."""
    from lakehouse import PROJECT_ROOT

    app = PROJECT_ROOT / "dashboard" / "app.py"
    host = args.host or settings.demo.dashboard_host
    port_given = args.port or settings.demo.dashboard_port
    argv = [sys.executable, "-m", "streamlit", "run", str(app),
            "--server.address", host, "--server.port", str(port_given),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "viewer",
            *args.passed_through]
    extra = dict(zip(args.passed_through, args.passed_through[1:], strict=False))
    port = extra.get("--server.port", str(port_given))  # streamlit takes the last one given
    print(f"dashboard http://{host}:{port}  (Ctrl-C stops it)", flush=True)
    # exec, not a child: a signal meant for the dashboard (Ctrl-C, a supervisor's SIGTERM)
    # reaches Streamlit itself, and no wrapper can exit leaving Streamlit behind.
    os.chdir(PROJECT_ROOT)
    os.execv(sys.executable, argv)


def cmd_airflow(settings: Settings, args: argparse.Namespace) -> int:
    """Start Airflow standalone in the background and print the UI URL and the login."""
    from paystream.runtime import airflow_server

    _say("airflow: starting standalone (first start migrates its database, ~1 min)")
    found = airflow_server.start(settings)
    print(f"airflow   {found.url}  login {found.user} / {found.password}  (log {found.log})")
    return 0


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text} is not a date like 2026-11-29") from error


def _iso_datetime(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{text} is not a time like 2026-11-29T00:00:00Z") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _non_negative(kind: type) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"{text} is negative")
        return value  # type: ignore[no-any-return]
    return parse


Command = Callable[[Settings, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = _Parser(prog="paystream", description="Real-time payments monitoring lakehouse.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    def add(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(func=func)
        return command

    add("up", cmd_up, "start Kafka and PostgreSQL (embedded unless configured), then migrate")
    add("down", cmd_down, "stop everything this state folder runs: parts, Airflow, services")
    add("demo", cmd_demo, "run the whole platform (services, Airflow, stream, producer, "
        "dashboard) and print where each part runs")
    for verb, func in (("start", cmd_start), ("stop", cmd_stop)):
        part = add(verb, func, f"{verb} one supervised part of the demo")
        part.add_argument("part", choices=["producer", "stream", "dashboard"])
    status = add("status", cmd_status, "show what runs where")
    status.add_argument("--json", action="store_true", help="machine-readable JSON")
    topics = add("topics", cmd_topics, "create or reconcile the Kafka topics")
    topics.add_argument("--file", help="topics file (default config/kafka_topics.yaml)")
    topics.add_argument("--dry-run", action="store_true", help="show changes, apply none")
    add("migrate", cmd_migrate, "apply the PostgreSQL payments schema")
    setup = add("setup", cmd_setup,
                "cache the JVM jars (Kafka, Delta, spark-sql-kafka); build our own")
    setup.add_argument("--azure", action="store_true",
                       help="also the ABFS connector (hadoop-azure) an abfss:// lake needs "
                            "(resolved anyway when PAYSTREAM_LAKE_ROOT is abfss://)")

    produce = add("produce", cmd_produce, "send synthetic or replayed payment events to Kafka")
    produce.add_argument("--topic", default="transactions", help="topic (default transactions)")
    produce.add_argument("--rate", type=_non_negative(float), default=100.0,
                         help="events per second, steady; 0 = as fast as possible (default 100)")
    produce.add_argument("--count", type=_non_negative(int),
                         help="stop after this many events (default: run until Ctrl-C/SIGTERM)")
    produce.add_argument("--duration", type=_non_negative(float),
                         help="stop after this many seconds (default: run until Ctrl-C/SIGTERM)")
    produce.add_argument("--seed", type=int, default=42, help="same seed + options = same events")
    produce.add_argument("--fraud-rate", type=_fraction, default=0.01,
                         help="share of events that belong to fraud scenarios (default 0.01)")
    produce.add_argument("--fault-rate", type=_fraction, default=0.0,
                         help="share of events with a data fault (default 0)")
    produce.add_argument("--scenarios", help="comma list of fraud scenarios (default all)")
    produce.add_argument("--faults", help="comma list of fault kinds (default all)")
    produce.add_argument("--start", help="virtual clock start (ISO-8601, UTC): event time "
                         "advances per event instead of following the wall clock")
    produce.add_argument("--speedup", type=float, default=1.0,
                         help="simulated seconds per wall second on the virtual clock")
    produce.add_argument("--users", type=int, default=1_000_000, help="population size")
    produce.add_argument("--replay", metavar="FILE",
                         help="send events from a CSV, Parquet or JSONL file in event-time order")
    produce.add_argument("--map", help="column mapping for --replay: src=field,src2=location.lat")
    produce.add_argument("--rebase-time", action="store_true",
                         help="with --replay: shift every event time so the newest is now, "
                              "keeping the gaps (a live demo on real-looking history)")
    produce.add_argument("--quiet", action="store_true", help="no progress bar")

    stream = add("stream", cmd_stream,
                 "run the streaming pipeline: instant alerts, the lake, the alert sinks")
    layer_or_query = stream.add_mutually_exclusive_group()
    layer_or_query.add_argument("--layer", choices=["bronze", "silver", "gold"],
                                help="run one lake layer as its own query (default all)")
    layer_or_query.add_argument("--query",
                                choices=["instant", "stateful", "medallion", "alerts_postgres",
                                         "alerts_gold", "decisions_postgres"],
                                help="run one of the pipeline's queries only (default all)")
    stream.add_argument("--available-now", action="store_true",
                        help="process everything available, then exit")

    history = add("import", cmd_import,
                  "load a history file (CSV, Parquet, JSON lines) into bronze and silver")
    history.add_argument("file", help="the history file")
    history.add_argument("--map", help="column mapping: src=field,src2=location.lat")
    history.add_argument("--label-column", help="column holding the fraud label "
                                                "(1/true/yes/fraud = fraud) for gold.labels")
    history.add_argument("--labelled-at-column",
                         help="column with the time each label became known (date or "
                              "date-time); --label-column needs it or --label-delay")
    history.add_argument("--label-delay", type=float,
                         help="or: each label became known DAYS after its payment")
    history.add_argument("--scenario-column", help="column naming each row's scenario")
    history.add_argument("--chunk-rows", type=int, default=50_000,
                         help="rows per batch (default 50,000); memory stays one chunk")
    made = add("history", cmd_history, "write a generated labelled history (CSV) and its "
               "chargeback file, whose labels arrive days late, to backtest on")
    made.add_argument("file", help="the history CSV to write")
    made.add_argument("--labels", help="the chargeback CSV (default FILE-chargebacks.csv)")
    made.add_argument("--days", type=int, default=60, help="days of history (default 60)")
    made.add_argument("--per-day", type=int, default=4_000, help="payments a day (default 4,000)")
    made.add_argument("--users", type=int, default=2_000, help="cardholders (default 2,000)")
    made.add_argument("--merchants", type=int, default=400, help="merchants (default 400)")
    made.add_argument("--start", type=_iso_date, help="first day (default: --days before today)")
    made.add_argument("--seed", type=int, default=42)
    made.add_argument("--fraud-rate", type=_fraction, default=0.01,
                      help="share of draws that start or continue fraud (default 0.01)")
    made.add_argument("--scenarios", help="comma-separated (default all, with "
                                          "compromised_terminal and compromised_customer)")
    made.add_argument("--label-delay-shape", choices=("fixed", "lognormal"), default="fixed",
                      help="how chargeback delays spread: fixed (1 day plus an exponential, "
                           "the default) or lognormal (a longer tail)")
    made.add_argument("--label-delay-days", type=float,
                      help="fixed: mean days after 1 day that a chargeback arrives (default "
                           "3); lognormal: the mean delay (default 4)")
    made.add_argument("--label-delay-max", type=float,
                      help="no chargeback later than this many days (default 30 fixed, 120 "
                           "lognormal)")
    made.add_argument("--unreported-share", type=_fraction, default=0.0,
                      help="share of frauds never charged back (0..1, default 0): their truth "
                           "goes to FILE-unreported.csv, dated 2999-12-31")
    made.add_argument("--varied-intensity", action="store_true",
                      help="a breached terminal makes 20-100 %% of its payments fraud, a "
                           "cloned card spends 3-12 times the usual (each drawn once)")
    labels = add("label", cmd_label, "load a label file (transaction_id, label, date"
                 "[, scenario]) into gold.labels")
    labels.add_argument("file", nargs="?",
                        help="CSV, Parquet or JSON lines; label: fraud/1/true/"
                             "chargeback or legit/0/false/false_positive")
    labels.add_argument("--dispositions", action="store_true",
                        help="carry the analysts' dispositions (review queue) instead")
    labels.add_argument("--source", help="where the labels come from (default labels:FILE)")
    labels.add_argument("--time-column", default="date",
                        help="column with the time each label became known (default date)")
    trial = add("backtest", cmd_backtest,
                "score a rule set on labelled silver: precision, recall, EUR; nothing written")
    trial.add_argument("--rules", help="rules file (default PAYSTREAM_RULES_FILE)")
    trial.add_argument("--from", dest="date_from", type=_iso_date,
                       help="first event date (default silver's first)")
    trial.add_argument("--to", dest="date_to", type=_iso_date,
                       help="last event date (default silver's last)")
    trial.add_argument("--compare", metavar="OTHER_RULES",
                       help="a candidate rules file, side by side (shadow mode)")
    trial.add_argument("--sweep", metavar="RULE.PARAM=V1,V2",
                       help="the precision/recall curve of one parameter")
    trial.add_argument("--format", choices=["table", "json"], default="table")
    trial.add_argument("--html", help="where to write the HTML report "
                                      "(default $PAYSTREAM_HOME/backtests/backtest-<time>.html)")
    trial.add_argument("--open", action="store_true", help="open the HTML report in a browser")
    tune = add("tune", cmd_tune, "choose rule parameters on one period and report them on a "
               "later one (writes a candidate rules file, never the live one)")
    for name in ("train-from", "train-to", "test-from", "test-to"):
        tune.add_argument(f"--{name}", type=_iso_date, required=True, help="YYYY-MM-DD")
    tune.add_argument("--grid", action="append", metavar="RULE.PARAM=V1,V2",
                      help="values to try for one parameter; repeat for several (all "
                           "combinations)")
    tune.add_argument("--min-precision", type=float, default=0.7,
                      help="the objective: the highest recall at this precision or more "
                           "(default 0.7)")
    trial.add_argument("--model", default="live", metavar="live|none|VERSION",
                       help="the risk model the decisions are scored with (default live: the "
                            "champion, when one is)")
    trial.add_argument("--compare-model", metavar="live|none|VERSION",
                       help="the same rules with another risk model, side by side")
    tune.add_argument("--rules", help="rules file to start from (default PAYSTREAM_RULES_FILE)")
    tune.add_argument("--out", help="candidate rules file (default "
                                    "$PAYSTREAM_HOME/tuned/rules-<time>.yaml)")
    model = add("model", cmd_model, "train the learned risk model on labelled silver, list "
                "the versions, promote one or retire the live one")
    model.add_argument("action", choices=["train", "list", "promote", "retire"])
    for name, told in (("train-from", "first day to learn from"),
                       ("train-to", "last day to learn from"),
                       ("valid-from", "first day of the out-of-time validation"),
                       ("valid-to", "last day of the validation")):
        model.add_argument(f"--{name}", type=_iso_date,
                           help=f"train: {told} (YYYY-MM-DD; default: module docs, "
                                "the newest 14 days left to mature)")
    model.add_argument("--known-at", type=_iso_datetime,
                       help="train: read labels as known at this time (default: the end of "
                            "silver's newest day)")
    model.add_argument("--no-promote", action="store_true",
                       help="train: register the challenger without comparing it")
    model.add_argument("--version", type=int, help="promote: the version to promote")
    model.add_argument("--force", action="store_true",
                       help="promote: without comparing it to the champion")
    quarantine = add("quarantine", cmd_quarantine,
                     "list quarantined records by day and reason, or replay them to Kafka")
    quarantine.add_argument("action", choices=["list", "replay"])
    quarantine.add_argument("--reason", help="only records with this reason (e.g. too_late)")
    quarantine.add_argument("--since", type=_iso_date,
                            help="only records quarantined on or after this day (YYYY-MM-DD)")
    quarantine.add_argument("--include-replayed", action="store_true",
                            help="replay: send records already replayed once more")
    quarantine.add_argument("--dry-run", action="store_true",
                            help="replay: say how many records would be sent, send none")
    backfill = add("backfill", cmd_backfill,
                   "recompute a day's gold from silver with the batch rules and report it")
    backfill.add_argument("--date", type=_iso_date, required=True, help="day (YYYY-MM-DD)")
    backfill.add_argument("--to", type=_iso_date, help="last day of a range (default --date)")
    dq = add("dq", cmd_dq, "run the Great Expectations suites on the lake tables")
    dq.add_argument("--no-record", action="store_true",
                    help="do not store the results in payments.dq_results")
    add("airflow", cmd_airflow, "start Airflow standalone with the DAGs in dags/")
    dashboard = add("dashboard", cmd_dashboard,
                    "run the live Streamlit dashboard (other --options go to streamlit)")
    dashboard.add_argument("--host", help="address (default PAYSTREAM_DEMO__DASHBOARD_HOST, "
                                          "loopback)")
    dashboard.add_argument("--port", type=int,
                           help="port (default PAYSTREAM_DEMO__DASHBOARD_PORT, 8501)")
    sql = add("sql", cmd_sql, "query the Delta tables with DuckDB (no query: a prompt)")
    sql.add_argument("query", nargs="?", help='e.g. "SELECT rule_id, count(*) FROM gold_alerts '
                     'GROUP BY 1"')
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table",
                     help="output format (default: an aligned table)")

    bench = add("bench", cmd_bench, "measure throughput beside its ceiling on this machine")
    bench.add_argument("target", choices=["produce", "e2e", "dashboard", "sql", "replay"],
                       help="what to measure")
    bench.add_argument("--rate", type=float, default=2_000, help="e2e: events/s to send")
    bench.add_argument("--duration", type=float, default=60, help="e2e: seconds to send")
    bench.add_argument("--lake-rows", type=int, default=0,
                       help="e2e: first fill silver with this many older rows (batch cost vs size)")
    bench.add_argument("--model-from", metavar="LAKE",
                       help="e2e: score the decisions with the champion risk model of this lake "
                            "(copied into the bench's lake)")
    bench.add_argument("--count", type=int, default=200_000, help="events per figure")
    bench.add_argument("--partitions", type=int, default=6, help="partitions of the bench topic")
    bench.add_argument("--seed", type=int, default=42)
    bench.add_argument("--alerts", type=int, default=1_000_000,
                       help="dashboard: synthetic alerts in PostgreSQL")
    bench.add_argument("--runs", type=int, default=20, help="dashboard: renders per page")
    bench.add_argument("--rows", type=int, default=10_000_000,
                       help="sql: rows in the synthetic gold.alerts table")
    return parser


def _root_cause(error: BaseException) -> str:
    """A JVM error's innermost cause (`java.net.UnknownHostException: host`), else the error."""
    java = getattr(error, "java_exception", None)
    if java is None:
        return str(error)
    try:
        while java.getCause() is not None:
            java = java.getCause()
        return str(java.toString())
    except Exception:  # noqa: BLE001 - the JVM is gone: the Python message will do
        return str(error)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `paystream` console script."""
    parser = build_parser()
    args, passed_through = parser.parse_known_args(argv)
    if passed_through and args.command != "dashboard":
        parser.error(f"unrecognized arguments: {' '.join(passed_through)}")
    args.passed_through = passed_through
    try:
        settings = load_settings()
        return int(args.func(settings, args))
    except PaystreamError as error:
        print(f"paystream {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"paystream {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the last line of defence: one line, not a trace
        if os.environ.get("PAYSTREAM_DEBUG"):
            raise
        reason = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", _root_cause(error)).split())[:300]
        print(f"paystream {args.command}: unexpected error: {type(error).__name__}: {reason} "
              "(set PAYSTREAM_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
