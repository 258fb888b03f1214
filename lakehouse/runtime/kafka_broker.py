"""Real Apache Kafka brokers in KRaft mode, run from the official jars on Maven Central.

One node by default; the cluster profile runs three (combined broker and
controller roles, one quorum, one cluster id, separate ports and log dirs).
Node 1 keeps the single broker's paths, so a state folder can grow a cluster.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lakehouse.errors import PaystreamError
from lakehouse.jars import resolve_jars
from lakehouse.runtime import processes
from lakehouse.runtime.java import find_java
from lakehouse.settings import KafkaSettings, Settings
from lakehouse.versions import jvm_versions


@dataclass(frozen=True)
class BrokerPaths:
    """Where the broker's config, data, pid and logs live under the state folder."""

    root: Path
    data: Path
    config: Path
    log4j: Path
    cluster_id: Path
    pid: Path
    server_log: Path
    console_log: Path

    @classmethod
    def of(cls, settings: Settings, node: int = 1) -> BrokerPaths:
        """The paths of embedded node `node` for these settings."""
        suffix = "" if node == 1 else f"-{node}"
        root = settings.home / f"kafka{suffix}"
        return cls(
            root=root,
            data=root / "data",
            config=root / "server.properties",
            log4j=root / "log4j2.properties",
            cluster_id=settings.home / "kafka" / "cluster.id",
            pid=settings.run_dir / f"kafka{suffix}.pid",
            server_log=settings.logs_dir / f"kafka{suffix}.log",
            console_log=settings.logs_dir / f"kafka{suffix}.out",
        )


def server_properties(kafka: KafkaSettings, data_dir: Path, node: int = 1) -> str:
    """server.properties of one combined broker+controller node on loopback."""
    host = kafka.host
    port, controller = kafka.broker_port(node), kafka.controller_port_of(node)
    voters = ",".join(f"{n}@{host}:{kafka.controller_port_of(n)}" for n in kafka.nodes)
    replicas = str(min(3, kafka.brokers))
    min_isr = str(min(2, kafka.brokers))
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": "0",
        "message.max.bytes": "2097152",
    }
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def log4j_properties(server_log: Path) -> str:
    """A log4j2 config that writes the broker's log to one file."""
    return (
        "status = warn\n"
        "appender.file.type = File\n"
        "appender.file.name = file\n"
        f"appender.file.fileName = {server_log}\n"
        "appender.file.layout.type = PatternLayout\n"
        "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.file.ref = file\n"
        "logger.state.name = state.change.logger\n"
        "logger.state.level = WARN\n"
    )


def broker_classpath(settings: Settings) -> str:
    """The broker's classpath, resolving and caching the jars on first use."""
    jars = resolve_jars(settings.jars, "kafka", jvm_versions().kafka_broker)
    return ":".join(str(jar) for jar in jars)


def running_pid(settings: Settings, node: int = 1) -> int | None:
    """The pid of embedded node `node` this state folder started, if it still runs."""
    paths = BrokerPaths.of(settings, node)
    pid = processes.read_pid(paths.pid)
    if pid is not None and str(paths.config) in processes.process_cmdline(pid):
        return pid
    return None


def running_pids(settings: Settings) -> dict[int, int | None]:
    """Every embedded node's pid (None when it does not run)."""
    return {node: running_pid(settings, node) for node in settings.kafka.nodes}


def _java_command(settings: Settings, java: Path, classpath: str, main: str,
                  node: int = 1) -> list[str]:
    paths = BrokerPaths.of(settings, node)
    return [
        str(java),
        f"-Xms{settings.kafka.heap_mb}m",
        f"-Xmx{settings.kafka.heap_mb}m",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={paths.log4j}",
        "-cp",
        classpath,
        main,
    ]


def start(settings: Settings) -> dict[int, subprocess.Popen[bytes]]:
    """Write each node's config, format storage on its first start, launch the nodes not
    running yet (all share one cluster id); return the launched processes by node id."""
    java = find_java()
    classpath = broker_classpath(settings)
    return {node: _start_node(settings, node, java, classpath)
            for node in settings.kafka.nodes if running_pid(settings, node) is None}


def _start_node(settings: Settings, node: int, java: Path,
                classpath: str) -> subprocess.Popen[bytes]:
    paths = BrokerPaths.of(settings, node)
    for folder in (paths.root, paths.data, paths.cluster_id.parent, settings.run_dir,
                   settings.logs_dir):
        folder.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(server_properties(settings.kafka, paths.data, node))
    paths.log4j.write_text(log4j_properties(paths.server_log))
    if not (paths.data / "meta.properties").exists():
        if not paths.cluster_id.exists():
            paths.cluster_id.write_text(kraft_cluster_id())
        cluster_id = paths.cluster_id.read_text().strip()
        processes.run_checked(
            _java_command(settings, java, classpath, "kafka.tools.StorageTool", node)
            + ["format", f"--cluster-id={cluster_id}", "-c", str(paths.config)],
            f"formatting the Kafka storage of node {node}",
            log=paths.console_log,
        )
    with open(paths.console_log, "ab") as console:
        process = subprocess.Popen(
            _java_command(settings, java, classpath, "kafka.Kafka", node) + [str(paths.config)],
            stdout=console,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    paths.pid.write_text(f"{process.pid}\n")
    return process


def kraft_cluster_id(random_bytes: Callable[[], bytes] = lambda: uuid.uuid4().bytes) -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding (like kafka-storage).

    Like Kafka's own Uuid.randomUuid, never one that starts with '-', which a command line
    would read as an option (one fresh id in 64 did, and `format` failed).
    """
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(random_bytes()).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def live_brokers(bootstrap: str, timeout_s: float = 3.0) -> int:
    """How many brokers a real metadata request reports (0 when none answers)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    if not any(processes.tcp_reachable(h, int(p), timeout_s) for h, _, p in
               (server.rpartition(":") for server in bootstrap.split(","))):
        return 0
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=int(timeout_s * 1000),
            client_id="paystream-probe",
        )
    except (KafkaError, OSError, ValueError):
        return 0
    try:
        return len(admin.describe_cluster().get("brokers", []))
    except (KafkaError, OSError, ValueError):
        return 0
    finally:
        admin.close()


def metadata_ok(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """True when a real metadata request to the cluster succeeds."""
    return live_brokers(bootstrap, timeout_s) > 0


def wait_ready(settings: Settings, launched: dict[int, subprocess.Popen[bytes]]) -> float:
    """Block until every embedded broker is in the cluster's metadata; return the seconds."""
    started = time.monotonic()
    deadline = started + settings.kafka.start_timeout_s
    wanted = settings.kafka.brokers
    while time.monotonic() < deadline:
        for node, process in launched.items():
            if process.poll() is not None:
                paths = BrokerPaths.of(settings, node)
                raise PaystreamError(
                    f"Kafka node {node} exited with code {process.returncode} while starting; "
                    f"see {paths.server_log} and {paths.console_log}"
                )
        if live_brokers(settings.kafka.bootstrap_servers, timeout_s=1.0) >= wanted:
            return time.monotonic() - started
        time.sleep(0.25)
    for process in launched.values():
        processes.terminate(process.pid, timeout_s=10)
    for node in settings.kafka.nodes:
        if running_pid(settings, node) is None:
            BrokerPaths.of(settings, node).pid.unlink(missing_ok=True)
    raise PaystreamError(
        f"the Kafka broker was not up within {settings.kafka.start_timeout_s:g} s; "
        f"see {BrokerPaths.of(settings).server_log}"
    )


def stop(settings: Settings) -> bool:
    """Stop every node this state folder started; return whether any was running."""
    stopped = False
    for node in reversed(settings.kafka.nodes):
        pid = running_pid(settings, node)
        if pid is not None:
            processes.terminate(pid, timeout_s=30)
            stopped = True
        BrokerPaths.of(settings, node).pid.unlink(missing_ok=True)
    return stopped
