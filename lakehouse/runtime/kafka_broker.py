"""One real Apache Kafka broker in KRaft mode, run from the official jars on Maven Central."""

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
    def of(cls, settings: Settings) -> BrokerPaths:
        """The broker's paths for these settings."""
        root = settings.home / "kafka"
        return cls(
            root=root,
            data=root / "data",
            config=root / "server.properties",
            log4j=root / "log4j2.properties",
            cluster_id=root / "cluster.id",
            pid=settings.run_dir / "kafka.pid",
            server_log=settings.logs_dir / "kafka.log",
            console_log=settings.logs_dir / "kafka.out",
        )


def server_properties(kafka: KafkaSettings, data_dir: Path) -> str:
    """The broker's server.properties: one combined broker+controller node on loopback."""
    host = kafka.host
    lines = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{kafka.controller_port}",
        "listeners": f"PLAINTEXT://{host}:{kafka.port},CONTROLLER://{host}:{kafka.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{kafka.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
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


def running_pid(settings: Settings) -> int | None:
    """The pid of the broker this state folder started, if it still runs."""
    paths = BrokerPaths.of(settings)
    pid = processes.read_pid(paths.pid)
    if pid is not None and str(paths.config) in processes.process_cmdline(pid):
        return pid
    return None


def _java_command(settings: Settings, java: Path, classpath: str, main: str) -> list[str]:
    paths = BrokerPaths.of(settings)
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


def start(settings: Settings) -> subprocess.Popen[bytes]:
    """Write the config, format storage on the first start, and launch the broker."""
    paths = BrokerPaths.of(settings)
    java = find_java()
    classpath = broker_classpath(settings)
    for folder in (paths.root, paths.data, settings.run_dir, settings.logs_dir):
        folder.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(server_properties(settings.kafka, paths.data))
    paths.log4j.write_text(log4j_properties(paths.server_log))
    if not (paths.data / "meta.properties").exists():
        if not paths.cluster_id.exists():
            paths.cluster_id.write_text(kraft_cluster_id())
        cluster_id = paths.cluster_id.read_text().strip()
        processes.run_checked(
            _java_command(settings, java, classpath, "kafka.tools.StorageTool")
            + ["format", f"--cluster-id={cluster_id}", "-c", str(paths.config)],
            "formatting the Kafka storage",
            log=paths.console_log,
        )
    with open(paths.console_log, "ab") as console:
        process = subprocess.Popen(
            _java_command(settings, java, classpath, "kafka.Kafka") + [str(paths.config)],
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


def metadata_ok(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """True when a real metadata request to the cluster succeeds."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    host, _, port = bootstrap.split(",")[0].rpartition(":")
    if not processes.tcp_reachable(host, int(port), timeout_s):
        return False
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=int(timeout_s * 1000),
            client_id="paystream-probe",
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.describe_cluster()
        return True
    except (KafkaError, OSError, ValueError):
        return False
    finally:
        admin.close()


def wait_ready(settings: Settings, process: subprocess.Popen[bytes]) -> float:
    """Block until the broker answers a metadata request; return the seconds it took."""
    paths = BrokerPaths.of(settings)
    started = time.monotonic()
    deadline = started + settings.kafka.start_timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PaystreamError(
                f"the Kafka broker exited with code {process.returncode} while starting; "
                f"see {paths.server_log} and {paths.console_log}"
            )
        if metadata_ok(settings.kafka.bootstrap_servers, timeout_s=1.0):
            return time.monotonic() - started
        time.sleep(0.25)
    processes.terminate(process.pid, timeout_s=10)
    paths.pid.unlink(missing_ok=True)
    raise PaystreamError(
        f"the Kafka broker was not up within {settings.kafka.start_timeout_s:g} s; "
        f"see {paths.server_log}"
    )


def stop(settings: Settings) -> bool:
    """Stop the broker this state folder started; return whether one was running."""
    pid = running_pid(settings)
    if pid is None:
        BrokerPaths.of(settings).pid.unlink(missing_ok=True)
        return False
    processes.terminate(pid, timeout_s=30)
    BrokerPaths.of(settings).pid.unlink(missing_ok=True)
    return True
