"""Real Apache Kafka brokers in KRaft mode, run from the official jars on Maven Central.

One node by default; the cluster profile runs three (combined broker and
controller roles, one quorum, one cluster id, separate ports and log dirs).
Node 1 keeps the single broker's paths, so a state folder can grow a cluster.

With `kafka.security_protocol` other than PLAINTEXT the client listener (also used
between brokers) speaks it: TLS with a keystore keytool makes at first start, SASL
PLAIN or SCRAM users from the Kafka settings (SCRAM credentials are bootstrapped when
the storage is formatted). The controller listener stays plaintext on the host.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lakehouse.errors import PaystreamError
from lakehouse.jars import resolve_jars
from lakehouse.java import find_java
from lakehouse.settings import KafkaSettings, Settings, jaas_config
from lakehouse.versions import jvm_versions
from paystream.runtime import certificates, processes


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
    scram_users: Path

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
            scram_users=root / "scram-users",
        )


@dataclass(frozen=True)
class BrokerTls:
    """The keystore the secured listener serves and the CA file the brokers trust."""

    keystore: Path
    password: str
    ca_file: Path


def secured_listener_properties(kafka: KafkaSettings, tls: BrokerTls | None) -> dict[str, str]:
    """TLS and SASL properties of the client listener `CLIENT` (pure; secrets included)."""
    lines: dict[str, str] = {}
    if kafka.uses_tls:
        if tls is None:
            raise ValueError("a TLS listener needs a keystore")
        lines.update({
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(tls.keystore),
            "ssl.keystore.password": tls.password,
            "ssl.key.password": tls.password,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls.ca_file),
            "ssl.client.auth": "none",
        })
    if kafka.uses_sasl:
        user, password = _embedded_credentials(kafka)
        mechanism = kafka.sasl_mechanism
        login = jaas_config(mechanism, user, password)
        if mechanism == "PLAIN":
            login = login.rstrip(";") + f' user_{user}="{password}";'
        lines.update({
            "sasl.enabled.mechanisms": mechanism,
            "sasl.mechanism.inter.broker.protocol": mechanism,
            f"listener.name.client.{mechanism.lower()}.sasl.jaas.config": login,
        })
    return lines


def _embedded_credentials(kafka: KafkaSettings) -> tuple[str, str]:
    """The SASL user the embedded broker accepts; refuses characters that its properties
    file and `format --add-scram` would read differently."""
    user, password = kafka.sasl_credentials()
    if any(c in user + password for c in ',[]="\\') or not user.isidentifier():
        raise PaystreamError(
            "the embedded broker's SASL user must be a plain name and its password may not "
            "contain , [ ] = \\ or a double quote (PAYSTREAM_KAFKA__SASL_USERNAME / _PASSWORD)")
    return user, password


def scram_format_argument(kafka: KafkaSettings) -> list[str]:
    """`kafka-storage format` arguments that bootstrap the SCRAM user (pure); none otherwise."""
    if not (kafka.uses_sasl and kafka.sasl_mechanism.startswith("SCRAM")):
        return []
    user, password = _embedded_credentials(kafka)
    return ["--add-scram", f"{kafka.sasl_mechanism}=[name={user},password={password}]"]


def server_properties(kafka: KafkaSettings, data_dir: Path, node: int = 1,
                      tls: BrokerTls | None = None) -> str:
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
    if kafka.security_protocol != "PLAINTEXT":
        lines.update({
            "listeners": f"CLIENT://{host}:{port},CONTROLLER://{host}:{controller}",
            "advertised.listeners": f"CLIENT://{host}:{port}",
            "inter.broker.listener.name": "CLIENT",
            "listener.security.protocol.map":
                f"CONTROLLER:PLAINTEXT,CLIENT:{kafka.security_protocol}",
            **secured_listener_properties(kafka, tls),
        })
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
    kafka = settings.kafka
    tls = None
    if kafka.uses_tls:
        keytool = Path(os.path.realpath(java)).parent / "keytool"
        tls = BrokerTls(*certificates.ensure_keystore(
            keytool, settings.embedded_kafka_tls_dir, kafka.host))
    _write_private(paths.config, server_properties(kafka, paths.data, node, tls))
    paths.log4j.write_text(log4j_properties(paths.server_log))
    scram = scram_format_argument(kafka)
    wanted_user = f"{kafka.sasl_mechanism}:{kafka.sasl_username}\n" if scram else ""
    if not (paths.data / "meta.properties").exists():
        if not paths.cluster_id.exists():
            paths.cluster_id.write_text(kraft_cluster_id())
        cluster_id = paths.cluster_id.read_text().strip()
        processes.run_checked(
            _java_command(settings, java, classpath, "kafka.tools.StorageTool", node)
            + ["format", f"--cluster-id={cluster_id}", "-c", str(paths.config), *scram],
            f"formatting the Kafka storage of node {node}",
            log=paths.console_log,
        )
        paths.scram_users.write_text(wanted_user)
    elif scram and (not paths.scram_users.exists()
                    or wanted_user not in paths.scram_users.read_text()):
        raise PaystreamError(
            f"Kafka node {node}'s storage ({paths.data}) was formatted without the SCRAM user "
            f"{kafka.sasl_username!r}: stop it with `paystream down` and use a fresh "
            "PAYSTREAM_HOME (SCRAM users are bootstrapped when the storage is formatted)")
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


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (broker configs may hold passwords)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)


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


def live_brokers(kafka: KafkaSettings, timeout_s: float = 3.0) -> int:
    """How many brokers a real metadata request reports (0 when none answers)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    if not any(processes.tcp_reachable(h, int(p), timeout_s) for h, _, p in
               (server.rpartition(":") for server in kafka.bootstrap_servers.split(","))):
        return 0
    try:
        admin = KafkaAdminClient(
            bootstrap_timeout_ms=int(timeout_s * 1000),
            client_id="paystream-probe",
            **kafka.admin_config(request_timeout_ms=int(timeout_s * 1000)),
        )
    except (KafkaError, OSError, ValueError):
        return 0
    try:
        return len(admin.describe_cluster().get("brokers", []))
    except (KafkaError, OSError, ValueError):
        return 0
    finally:
        admin.close()


def metadata_ok(kafka: KafkaSettings, timeout_s: float = 3.0) -> bool:
    """True when a real metadata request to the cluster succeeds."""
    return live_brokers(kafka, timeout_s) > 0


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
        if live_brokers(settings.kafka, timeout_s=1.0) >= wanted:
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
