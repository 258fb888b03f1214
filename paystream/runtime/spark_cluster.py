"""A Spark standalone cluster (one master, N workers) from the pyspark wheel's own jars.

Started by `paystream up` when the profile asks for workers (the cluster
profile: two workers of one core and 1 GB each). `bin/spark-class` runs the
master and the workers; the pyspark wheel has no start-master.sh.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from lakehouse.errors import PaystreamError
from lakehouse.java import find_java
from lakehouse.settings import Settings
from lakehouse.spark import class_archive_options, shared_class_archive
from paystream.runtime import processes

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def wanted(settings: Settings) -> bool:
    """True when these settings run a standalone cluster of their own."""
    return settings.spark.standalone_workers > 0


def spark_home() -> Path:
    """The pyspark wheel's folder, which is a Spark distribution (bin/, jars/)."""
    import pyspark

    return Path(pyspark.__file__).parent


def master_url(settings: Settings) -> str:
    """spark://host:port of the master."""
    conf = settings.spark
    return f"spark://{conf.standalone_host}:{conf.standalone_port}"


def _pid_file(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"spark-{name}.pid"


def _log(settings: Settings, name: str) -> Path:
    return settings.logs_dir / f"spark-{name}.log"


def part_names(settings: Settings) -> list[str]:
    """master, worker-1, worker-2, …"""
    return ["master", *(f"worker-{n}" for n in range(1, settings.spark.standalone_workers + 1))]


def command(settings: Settings, name: str) -> list[str]:
    """The spark-class command line of one part (pure apart from locating spark-class)."""
    conf = settings.spark
    spark_class = [str(spark_home() / "bin" / "spark-class")]
    if name == "master":
        return [*spark_class, MASTER_CLASS, "--host", conf.standalone_host,
                "--port", str(conf.standalone_port), "--webui-port", str(conf.standalone_ui_port)]
    number = int(name.split("-")[1])
    return [*spark_class, WORKER_CLASS, master_url(settings), "--host", conf.standalone_host,
            "--cores", str(conf.worker_cores), "--memory", conf.worker_memory,
            "--webui-port", str(conf.standalone_ui_port + number),
            "--work-dir", str(settings.home / "spark-cluster" / name)]


def _environment(settings: Settings) -> dict[str, str]:
    java = find_java()
    # The master and workers start from pyspark's jars, as the driver does: they map its
    # class archive (the executors get it from the session, lakehouse.spark).
    daemon_options = " ".join([os.environ.get("SPARK_DAEMON_JAVA_OPTS", ""),
                               *class_archive_options(shared_class_archive(settings, java))])
    return {**os.environ, "SPARK_HOME": str(spark_home()),
            "JAVA_HOME": str(java.resolve().parent.parent), "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": sys.executable, "SPARK_NO_DAEMONIZE": "1",
            "SPARK_LOG_DIR": str(settings.logs_dir),
            "SPARK_WORKER_DIR": str(settings.home / "spark-cluster"),
            "SPARK_DAEMON_JAVA_OPTS": daemon_options.strip()}


def running(settings: Settings) -> dict[str, int | None]:
    """Each part's pid, None when it does not run."""
    found: dict[str, int | None] = {}
    for name in part_names(settings):
        pid = processes.read_pid(_pid_file(settings, name))
        cls = MASTER_CLASS if name == "master" else WORKER_CLASS
        found[name] = pid if pid is not None and cls in processes.process_cmdline(pid) else None
    return found


def alive_workers(settings: Settings) -> int:
    """Workers the master counts as ALIVE (0 when the master does not answer)."""
    conf = settings.spark
    url = f"http://{conf.standalone_host}:{conf.standalone_ui_port}/json/"
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            state = json.loads(answer.read())
    except (OSError, ValueError):
        return 0
    return sum(1 for worker in state.get("workers", []) if worker.get("state") == "ALIVE")


def preflight(settings: Settings) -> None:
    """Fail before starting anything when a port the cluster needs is taken."""
    conf = settings.spark
    if running(settings)["master"] is None:
        for port, what in ((conf.standalone_port, "Spark master"),
                           (conf.standalone_ui_port, "Spark master UI")):
            processes.require_free_port(conf.standalone_host, port, what,
                                        "PAYSTREAM_SPARK__STANDALONE_PORT / __STANDALONE_UI_PORT")


def start(settings: Settings) -> float:
    """Start the master and workers not running yet; wait until every worker is ALIVE."""
    import time

    began = time.monotonic()
    env = _environment(settings)
    for folder in (settings.run_dir, settings.logs_dir, settings.home / "spark-cluster"):
        folder.mkdir(parents=True, exist_ok=True)
    launched = []
    for name, pid in running(settings).items():
        if pid is not None:
            continue
        with open(_log(settings, name), "ab") as log:
            process = subprocess.Popen(command(settings, name), env=env, stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        _pid_file(settings, name).write_text(f"{process.pid}\n")
        launched.append((name, process))
    workers = settings.spark.standalone_workers
    ready = processes.wait_until(
        lambda: any(p.poll() is not None for _, p in launched)
        or alive_workers(settings) >= workers, settings.spark.standalone_start_timeout_s)
    exited = [name for name, p in launched if p.poll() is not None]
    if exited or not ready:
        stop(settings)
        name = exited[0] if exited else "master"
        raise PaystreamError(
            f"the Spark standalone {name} {'exited' if exited else 'was not ready'} while "
            f"starting; see {_log(settings, name)}")
    return time.monotonic() - began


def stop(settings: Settings) -> bool:
    """Stop the workers, then the master; True if any ran."""
    stopped = False
    for name in reversed(part_names(settings)):
        pid = running(settings)[name]
        if pid is not None:
            processes.terminate_tree(pid, timeout_s=20)
            stopped = True
        _pid_file(settings, name).unlink(missing_ok=True)
    return stopped


def status(settings: Settings) -> dict[str, object]:
    """The cluster's master URL, alive workers and each part's pid and log."""
    alive = alive_workers(settings)  # one request to the master's UI
    return {
        "master": master_url(settings),
        "alive_workers": alive,
        "workers": settings.spark.standalone_workers,
        "up": alive >= settings.spark.standalone_workers,
        "ui": f"http://{settings.spark.standalone_host}:{settings.spark.standalone_ui_port}",
        "pids": running(settings),
        "logs": {name: str(_log(settings, name)) for name in part_names(settings)},
    }
