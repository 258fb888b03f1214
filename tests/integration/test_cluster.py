"""The cluster profile on real processes: three KRaft brokers, a Spark standalone master with
two workers, a broker killed while the producer sends, a worker killed while the pipeline runs
on the master, and every count exact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lakehouse.catalog import Catalog
from lakehouse.settings import KafkaSettings, Settings, load_settings
from paystream.runtime.processes import wait_until
from tests.conftest import alive, free_port_run, run_cli
from tests.integration.pipeline_checks import (
    clear_postgres,
    gold_alert_ids,
    postgres_alert_ids,
    reconcile,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EVENTS = 1_500
MORE_EVENTS = 1_000


def _cluster_env(settings: Settings, home: Path) -> dict[str, str]:
    """Its own brokers and Spark cluster on free ports; the suite's PostgreSQL as an external
    server (a throwaway cluster under pytest's 0700 temporary folder is out of its reach)."""
    kafka = free_port_run(10)  # 3 brokers and their controllers, the master, its UI and 2 workers'
    master, ui = kafka + 6, kafka + 7
    return {
        "PAYSTREAM_PROFILE": "cluster",
        "PAYSTREAM_HOME": str(home),
        "PAYSTREAM_LAKE_ROOT": str(home / "lake"),  # not a lake an earlier fixture named
        "PAYSTREAM_JARS_DIR": str(settings.jars),
        "PAYSTREAM_KAFKA__PORT": str(kafka),
        "PAYSTREAM_KAFKA__CONTROLLER_PORT": str(kafka + 1),
        "PAYSTREAM_POSTGRES_DSN": settings.postgres_url(),
        "PAYSTREAM_SPARK__MASTER": f"spark://127.0.0.1:{master}",
        "PAYSTREAM_SPARK__STANDALONE_PORT": str(master),
        "PAYSTREAM_SPARK__STANDALONE_UI_PORT": str(ui),
    }


def _records(env: dict[str, str]) -> int:
    """Records in `transactions` on the cluster of this environment."""
    from tests.integration.pipeline_checks import topic_records

    settings = load_settings(kafka=KafkaSettings(
        brokers=3, port=int(env["PAYSTREAM_KAFKA__PORT"]),
        controller_port=int(env["PAYSTREAM_KAFKA__CONTROLLER_PORT"])))
    return topic_records(settings, "transactions")


def _cli_process(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """`paystream ARGS` started in the background, its output captured."""
    return subprocess.Popen([sys.executable, "-m", "paystream.cli", *args],
                            env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _kill_midway(process: subprocess.Popen[str], ready: Callable[[], bool],
                 kill: Callable[[], None]) -> tuple[str, str]:
    """Once `ready` holds while the process runs, `kill` something; return its output at exit."""
    try:
        assert wait_until(lambda: process.poll() is not None or ready(), 600, interval_s=1)
        assert process.poll() is None, process.communicate()
        kill()
        return process.communicate(timeout=1500)
    finally:
        if process.poll() is None:
            process.kill()


def _executors(ui: str) -> int:
    """Executors of the running paystream-stream application (0 before it registers)."""
    import contextlib

    with contextlib.suppress(OSError, ValueError):
        for app in _json(f"{ui}/json/").get("activeapps", []):
            if app["name"] == "paystream-stream":
                return int(app.get("cores", 0))
    return 0


def _commit_count(commits: Path) -> int:
    """Committed batches of a streaming query (0 before its first)."""
    return len(list(commits.glob("[0-9]*")))


def _class_archive(settings: Settings) -> str:
    """The driver's class archive `paystream setup` recorded for these jars."""
    from lakehouse.java import find_java
    from lakehouse.spark import class_archive, session_jars

    return str(class_archive(settings, find_java(), session_jars(settings, find_java())))


def _maps(pid: int, archive: str) -> bool | None:
    """Whether process `pid` maps `archive` (None: it exited meanwhile)."""
    try:
        return archive in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return None


def _executor_pids(home: Path) -> list[int]:
    """This cluster's executor JVMs: each runs in a work folder under `home`."""
    import psutil

    found = []
    for process in psutil.process_iter():
        try:
            if (str(home) in process.cwd()
                    and any("CoarseGrainedExecutorBackend" in part for part in process.cmdline())):
                found.append(process.pid)
        except psutil.Error:
            continue
    return found


def _json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return dict(json.loads(answer.read()))


def test_cluster_profile_runs_the_pipeline_on_three_brokers_and_a_standalone_cluster(
    live_services: Settings, spark, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    from kafka import KafkaAdminClient

    from lakehouse.topics import describe_topics

    home = tmp_path / "cluster"
    env = _cluster_env(live_services, home)
    clear_postgres(live_services)
    try:
        up = run_cli("up", env=env, timeout=600)
        assert up.returncode == 0, up.stderr[-3000:]
        state = json.loads(run_cli("status", "--json", env=env).stdout)
        assert state["kafka"]["brokers"] == 3
        assert state["spark"]["alive_workers"] == 2
        pids = [pid for pid in [*state["kafka"]["pids"].values(),
                                *state["spark"]["pids"].values()] if pid]
        assert len(pids) == 6  # 3 brokers, master, 2 workers
        # The master and workers load most classes from the driver's archive (class-data
        # sharing on, as `paystream setup` leaves it); so do the executors, checked below.
        archive, sharing = _class_archive(live_services), live_services.spark.class_data_sharing
        daemons = state["spark"]["pids"].values()
        assert {_maps(pid, archive) for pid in daemons} - {None} == {sharing}, daemons

        topics = run_cli("topics", env=env)
        assert topics.returncode == 0, topics.stderr
        admin = KafkaAdminClient(bootstrap_servers=state["kafka"]["bootstrap"])
        try:
            transactions = describe_topics(admin, ["transactions"])["transactions"]
        finally:
            admin.close()
        assert transactions.replication_factor == 3
        assert transactions.config["min.insync.replicas"] == "2"

        # A broker SIGKILLed while the producer sends with acks=all and the stream runs on the
        # cluster: min.insync.replicas 2 of 3 still holds, so every payment is acknowledged;
        # the stream carries on (its Kafka clients fail over); `up` brings the node back.
        lake = home / "lake"
        stateful = Path(Catalog(lake).checkpoint("stateful_stages")) / "commits"
        live_log = tmp_path / "live-stream.log"
        with open(live_log, "wb") as out_file:
            live = subprocess.Popen([sys.executable, "-m", "paystream.cli", "stream"],
                                    env={**os.environ, **env}, stdout=out_file,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        try:
            assert wait_until(lambda: live.poll() is not None or any(stateful.glob("[0-9]*")),
                              600, interval_s=1), live_log.read_text()[-3000:]
            assert live.poll() is None, live_log.read_text()[-3000:]
            executors = _executor_pids(home)
            assert {_maps(pid, archive) for pid in executors} - {None} == {sharing}, executors
            producer = _cli_process(env, "produce", "--count", str(EVENTS), "--rate", "300",
                                    "--fault-rate", "0.03", "--fraud-rate", "0.05", "--seed",
                                    "12", "--quiet")
            out, err = _kill_midway(producer, lambda: _records(env) >= 600,
                                    lambda: os.kill(state["kafka"]["pids"]["3"], signal.SIGKILL))
            assert producer.returncode == 0, err[-2000:]
            assert f"acknowledged {EVENTS:,}, errors 0" in out, out
            after_kill = _commit_count(stateful)
            assert wait_until(lambda: live.poll() is not None
                              or _commit_count(stateful) >= after_kill + 2, 600, interval_s=1)
            assert live.poll() is None, live_log.read_text()[-3000:]  # carried on
            back = run_cli("up", env=env, timeout=300)
            assert back.returncode == 0 and "started kafka" in back.stdout, back.stderr[-2000:]
            live.send_signal(signal.SIGTERM)
            assert live.wait(timeout=300) == 0, live_log.read_text()[-3000:]
        finally:
            if live.poll() is None:
                os.killpg(live.pid, signal.SIGKILL)
        state = json.loads(run_cli("status", "--json", env=env).stdout)
        assert state["kafka"]["brokers"] == 3
        assert _records(env) == EVENTS
        pids += [state["kafka"]["pids"]["3"]]

        # More payments for a catch-up run, and a worker SIGKILLed (with its executor) while
        # that run works on the cluster: its tasks are retried on the other worker.
        more = run_cli("produce", "--count", str(MORE_EVENTS), "--rate", "0", "--fault-rate",
                       "0.03", "--fraud-rate", "0.05", "--seed", "13", "--quiet", env=env)
        assert f"acknowledged {MORE_EVENTS:,}, errors 0" in more.stdout, more.stderr[-2000:]
        ui = state["spark"]["ui"]
        stream = _cli_process(env, "stream", "--available-now")
        medallion = Path(Catalog(lake).checkpoint("medallion")) / "commits"
        before = _commit_count(medallion)
        out, err = _kill_midway(
            stream, lambda: _executors(ui) >= 2 and _commit_count(medallion) > before,
            lambda: os.killpg(state["spark"]["pids"]["worker-2"], signal.SIGKILL))
        assert stream.returncode == 0, err[-3000:]
        master = _json(f"{ui}/json/")
        apps = [app for app in master["completedapps"] if app["name"] == "paystream-stream"]
        assert apps and apps[0]["cores"] >= 1, master["completedapps"]
        assert [w["state"] for w in master["workers"]].count("ALIVE") == 1
        again = run_cli("up", env=env, timeout=300)
        assert again.returncode == 0 and "started spark" in again.stdout, again.stderr[-2000:]
        state = json.loads(run_cli("status", "--json", env=env).stdout)
        assert state["spark"]["alive_workers"] == 2
        pids += [state["spark"]["pids"]["worker-2"]]

        reconcile(spark, Catalog(lake), EVENTS + MORE_EVENTS)
        gold = gold_alert_ids(spark, Catalog(lake))
        assert gold and postgres_alert_ids(live_services) == gold
    finally:
        down = run_cli("down", env=env, timeout=300)
    assert down.returncode == 0, down.stderr
    assert down.stdout.strip() == "stopped spark, kafka", down.stdout
    assert [pid for pid in pids if alive(pid)] == []
