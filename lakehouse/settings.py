"""One frozen settings object, built once per entry point and passed down.

Sources, highest priority first: keyword arguments, environment variables with
the ``PAYSTREAM_`` prefix (nested fields with ``__``, e.g.
``PAYSTREAM_KAFKA__PORT``), then the YAML profile ``config/<profile>.yaml``
chosen by ``PAYSTREAM_PROFILE`` (default ``local``), then the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from lakehouse import PROJECT_ROOT
from lakehouse.fx import FX_TABLE_PATH

CONFIG_DIR = PROJECT_ROOT / "config"


def _absolute(path: Path) -> Path:
    path = path.expanduser()
    return (path if path.is_absolute() else PROJECT_ROOT / path).resolve()


def is_uri(value: object) -> bool:
    """True for a URI with a scheme such as abfss:// or s3a:// (not a local path) (pure)."""
    import re

    return isinstance(value, str) and re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", value) is not None


def _secret(value: SecretStr | None, file: Path | None, name: str) -> str | None:
    """A secret from its setting or, failing that, from the file the setting names."""
    if value is not None:
        return value.get_secret_value()
    if file is None:
        return None
    try:
        return file.expanduser().read_text().strip()
    except OSError as error:
        from lakehouse.errors import PaystreamError

        raise PaystreamError(f"cannot read {name} from {file}: {error.strerror}") from error


def postgres_uri(user: str, password: str, host: str, port: int, database: str) -> str:
    """A postgresql:// URI with the user and password percent-encoded, so a password with
    `/ @ : # ?` survives (pure)."""
    from urllib.parse import quote

    return (f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@{host}:{port}/{quote(database, safe='')}")


KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
PostgresSslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
JAAS_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def jaas_config(mechanism: str, username: str, password: str) -> str:
    """The `sasl.jaas.config` line a Java Kafka client logs in with (pure)."""
    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return (f"{JAAS_LOGIN_MODULES[mechanism]} required "
            f"username={quoted(username)} password={quoted(password)};")


KafkaPlatform = Literal["kafka", "eventhubs"]
CompressionType = Literal["none", "gzip", "snappy", "lz4", "zstd"]
EVENTHUBS_BOOTSTRAP_SUFFIX = ".servicebus.windows.net:9093"

# The client knobs of each platform. "kafka" is what the producer always used (idle and
# metadata ages: the clients' own defaults); "eventhubs" keeps inside every documented
# Event Hubs limit (https://learn.microsoft.com/azure/event-hubs/apache-kafka-configurations;
# no compression on Standard: .../azure-event-hubs-apache-kafka-overview#compression).
KAFKA_CLIENT_PROFILES: dict[str, dict[str, Any]] = {
    "kafka": {"compression_type": "lz4", "request_timeout_ms": 10_000,
              "batch_size": 1_048_576, "max_request_size": 4_194_304, "linger_ms": 20,
              "delivery_timeout_ms": 30_000, "connections_max_idle_ms": 540_000,
              "metadata_max_age_ms": 300_000},
    "eventhubs": {"compression_type": "none", "request_timeout_ms": 60_000,
                  "batch_size": 1_000_000, "max_request_size": 1_000_000, "linger_ms": 20,
                  "delivery_timeout_ms": 120_000, "connections_max_idle_ms": 180_000,
                  "metadata_max_age_ms": 180_000},
}
# Event Hubs' documented limits: the largest request (bytes), the smallest request timeout,
# the idle timeout both ages must stay under (ms), and the compressions Standard accepts.
EVENTHUBS_MAX_REQUEST_BYTES = 1_046_528
EVENTHUBS_MIN_REQUEST_TIMEOUT_MS = 20_000
EVENTHUBS_IDLE_TIMEOUT_MS = 240_000
EVENTHUBS_COMPRESSIONS = frozenset({"none"})


def eventhubs_violations(client: KafkaClientSettings) -> list[str]:
    """The client settings that break a documented Event Hubs limit, one phrase each (pure)."""
    found = []
    if client.compression_type not in EVENTHUBS_COMPRESSIONS:
        found.append(f"compression_type {client.compression_type} (Event Hubs Standard: none)")
    if client.request_timeout_ms < EVENTHUBS_MIN_REQUEST_TIMEOUT_MS:
        found.append(f"request_timeout_ms {client.request_timeout_ms} "
                     f"(Event Hubs: >= {EVENTHUBS_MIN_REQUEST_TIMEOUT_MS})")
    for name in ("batch_size", "max_request_size"):
        if getattr(client, name) > EVENTHUBS_MAX_REQUEST_BYTES:
            found.append(f"{name} {getattr(client, name)} "
                         f"(Event Hubs: <= {EVENTHUBS_MAX_REQUEST_BYTES})")
    for name in ("connections_max_idle_ms", "metadata_max_age_ms"):
        if getattr(client, name) >= EVENTHUBS_IDLE_TIMEOUT_MS:
            found.append(f"{name} {getattr(client, name)} "
                         f"(Event Hubs: < {EVENTHUBS_IDLE_TIMEOUT_MS})")
    return found


class KafkaClientSettings(BaseModel):
    """Compression, timeouts, sizes and ages every Kafka client gets; unset fields take the
    platform's profile (`KAFKA_CLIENT_PROFILES`)."""

    model_config = ConfigDict(frozen=True)

    platform: KafkaPlatform = Field(
        default="kafka", description="Which profile fills the unset fields: kafka (Apache "
                                     "Kafka) or eventhubs (inside every Event Hubs limit)")
    # defaults: the kafka profile (the validator below fills every unset field from the
    # chosen platform's profile, so these are never read apart from it)
    compression_type: CompressionType = KAFKA_CLIENT_PROFILES["kafka"]["compression_type"]
    request_timeout_ms: int = Field(default=KAFKA_CLIENT_PROFILES["kafka"]["request_timeout_ms"],
                                    gt=0)
    batch_size: int = Field(default=KAFKA_CLIENT_PROFILES["kafka"]["batch_size"], gt=0)
    max_request_size: int = Field(default=KAFKA_CLIENT_PROFILES["kafka"]["max_request_size"],
                                  gt=0)
    linger_ms: int = Field(default=KAFKA_CLIENT_PROFILES["kafka"]["linger_ms"], ge=0)
    delivery_timeout_ms: int = Field(
        default=KAFKA_CLIENT_PROFILES["kafka"]["delivery_timeout_ms"], gt=0)
    connections_max_idle_ms: int = Field(
        default=KAFKA_CLIENT_PROFILES["kafka"]["connections_max_idle_ms"], gt=0)
    metadata_max_age_ms: int = Field(
        default=KAFKA_CLIENT_PROFILES["kafka"]["metadata_max_age_ms"], gt=0)

    @model_validator(mode="before")
    @classmethod
    def _platform_profile(cls, data: Any) -> Any:
        """Fields not given take the chosen platform's profile."""
        if not isinstance(data, dict):
            return data
        profile = KAFKA_CLIENT_PROFILES.get(str(data.get("platform", "kafka")), {})
        return {**profile, **data}

    @model_validator(mode="after")
    def _consistent(self) -> KafkaClientSettings:
        """Java's rule (delivery >= linger + request timeout), and the Event Hubs limits when
        the platform is eventhubs."""
        if self.delivery_timeout_ms < self.linger_ms + self.request_timeout_ms:
            raise ValueError(f"delivery_timeout_ms {self.delivery_timeout_ms} must be at least "
                             "linger_ms + request_timeout_ms")
        if self.platform == "eventhubs" and (broken := eventhubs_violations(self)):
            raise ValueError("outside Event Hubs limits: " + "; ".join(broken))
        return self


class KafkaSettings(BaseModel):
    """Where the broker listens, how big it is, and how long start-up may take."""

    model_config = ConfigDict(frozen=True)

    bootstrap: str | None = Field(
        default=None, description="An external cluster's bootstrap servers; unset = embedded broker"
    )
    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9093
    heap_mb: int = 768
    start_timeout_s: float = 60.0
    topics_file: Path = CONFIG_DIR / "kafka_topics.yaml"
    brokers: int = Field(
        default=1, ge=1, le=9,
        description="Embedded brokers (KRaft, combined roles, one quorum); node n listens on "
                    "port + 2(n-1) and controller_port + 2(n-1)")
    replication_factor: int | None = Field(
        default=None, description="Overrides the topics file's replication factor")
    min_insync_replicas: int | None = Field(
        default=None, description="Overrides the topics file's min.insync.replicas")
    manage_topics: bool = Field(
        default=True,
        description="Create and alter topics with the admin client; false (Event Hubs: the "
                    "template creates them) = only check that they exist")
    security_protocol: KafkaSecurityProtocol = Field(
        default="PLAINTEXT",
        description="How every client connects; the embedded broker then serves its client "
                    "listener the same way (TLS with a keytool certificate, SASL users)")
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = Field(
        default=None, description="Secret: from the environment only (or sasl_password_file)")
    sasl_password_file: Path | None = Field(
        default=None, description="A file holding the SASL password (a mounted secret)")
    ssl_cafile: Path | None = Field(
        default=None, description="PEM file of the CA that signed the brokers' certificates; "
                                  "unset = the system's CAs (the embedded broker's own CA)")
    ssl_check_hostname: bool = True
    client: KafkaClientSettings = Field(
        default_factory=KafkaClientSettings,
        description="Client knobs (compression, timeouts, sizes, ages) of every producer, "
                    "consumer, admin client and Spark query")

    @model_validator(mode="after")
    def _eventhubs_limits(self) -> KafkaSettings:
        """An Event Hubs bootstrap with a client config outside its limits fails in one line."""
        if self.is_eventhubs and (broken := eventhubs_violations(self.client)):
            raise ValueError(
                f"bootstrap {self.bootstrap} is Event Hubs but the Kafka client settings break "
                f"its limits: {'; '.join(broken)}; set PAYSTREAM_KAFKA__CLIENT__PLATFORM="
                "eventhubs")
        return self

    @property
    def is_eventhubs(self) -> bool:
        """True when every bootstrap server is an Event Hubs Kafka endpoint."""
        return self.bootstrap is not None and all(
            server.strip().lower().endswith(EVENTHUBS_BOOTSTRAP_SUFFIX)
            for server in self.bootstrap.split(","))

    @property
    def nodes(self) -> range:
        """The embedded brokers' node ids, from 1."""
        return range(1, self.brokers + 1)

    def broker_port(self, node: int) -> int:
        """The client port of embedded node `node`."""
        return self.port + 2 * (node - 1)

    def controller_port_of(self, node: int) -> int:
        """The controller port of embedded node `node`."""
        return self.controller_port + 2 * (node - 1)

    @property
    def bootstrap_servers(self) -> str:
        """The bootstrap servers clients connect to."""
        return self.bootstrap or ",".join(f"{self.host}:{self.broker_port(n)}" for n in self.nodes)

    @property
    def embedded(self) -> bool:
        """True when the project runs its own broker."""
        return self.bootstrap is None

    @property
    def uses_tls(self) -> bool:
        """True when clients speak TLS to the brokers."""
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        """True when clients authenticate with SASL."""
        return self.security_protocol.startswith("SASL_")

    def sasl_credentials(self) -> tuple[str, str]:
        """The SASL user and password, or a one-line error naming the settings to set."""
        from lakehouse.errors import PaystreamError

        password = _secret(self.sasl_password, self.sasl_password_file, "the SASL password")
        if not self.sasl_username or password is None:
            raise PaystreamError(
                f"security_protocol {self.security_protocol} needs PAYSTREAM_KAFKA__SASL_USERNAME"
                " and PAYSTREAM_KAFKA__SASL_PASSWORD (or PAYSTREAM_KAFKA__SASL_PASSWORD_FILE)")
        return self.sasl_username, password

    def python_client_config(self) -> dict[str, Any]:
        """kafka-python keyword arguments: bootstrap servers plus the security settings."""
        config: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers,
                                  "security_protocol": self.security_protocol}
        if self.uses_tls:
            config["ssl_check_hostname"] = self.ssl_check_hostname
            if self.ssl_cafile is not None:
                config["ssl_cafile"] = str(self.ssl_cafile)
        if self.uses_sasl:
            user, password = self.sasl_credentials()
            config.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=user,
                          sasl_plain_password=password)
        return config

    def java_client_config(self) -> dict[str, str]:
        """Java client properties (Spark's `kafka.` options, the perf-test tools)."""
        config = {"bootstrap.servers": self.bootstrap_servers,
                  "security.protocol": self.security_protocol}
        if self.uses_tls:
            config["ssl.endpoint.identification.algorithm"] = (
                "https" if self.ssl_check_hostname else "")
            if self.ssl_cafile is not None:
                config["ssl.truststore.type"] = "PEM"
                config["ssl.truststore.location"] = str(self.ssl_cafile)
        if self.uses_sasl:
            user, password = self.sasl_credentials()
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.jaas.config"] = jaas_config(self.sasl_mechanism, user, password)
        return config

    def _common_tuning(self, request_timeout_ms: int | None) -> dict[str, Any]:
        client = self.client
        timeout = client.request_timeout_ms
        if request_timeout_ms is not None:
            timeout = (max(request_timeout_ms, timeout) if client.platform == "eventhubs"
                       else request_timeout_ms)
        return {"request_timeout_ms": timeout,
                "connections_max_idle_ms": client.connections_max_idle_ms,
                "metadata_max_age_ms": client.metadata_max_age_ms}

    def producer_config(self) -> dict[str, Any]:
        """kafka-python producer keyword arguments: connection, security and client knobs."""
        client = self.client
        return {**self.python_client_config(), **self._common_tuning(None),
                "compression_type": (None if client.compression_type == "none"
                                     else client.compression_type),
                "batch_size": client.batch_size, "max_request_size": client.max_request_size,
                "linger_ms": client.linger_ms, "delivery_timeout_ms": client.delivery_timeout_ms}

    def admin_config(self, request_timeout_ms: int | None = None) -> dict[str, Any]:
        """kafka-python admin client keyword arguments; a caller's own request timeout is
        kept, but on Event Hubs never below the profile's."""
        return {**self.python_client_config(), **self._common_tuning(request_timeout_ms)}

    def consumer_config(self, request_timeout_ms: int | None = None) -> dict[str, Any]:
        """kafka-python consumer keyword arguments: the same knobs as `admin_config`."""
        return self.admin_config(request_timeout_ms)

    def java_tuning_config(self) -> dict[str, str]:
        """The client knobs under their Java names (Spark's producers and consumers)."""
        client = self.client
        return {"compression.type": client.compression_type,
                "request.timeout.ms": str(client.request_timeout_ms),
                "batch.size": str(client.batch_size),
                "max.request.size": str(client.max_request_size),
                "linger.ms": str(client.linger_ms),
                "delivery.timeout.ms": str(client.delivery_timeout_ms),
                "connections.max.idle.ms": str(client.connections_max_idle_ms),
                "metadata.max.age.ms": str(client.metadata_max_age_ms)}

    def spark_options(self) -> dict[str, str]:
        """Spark Kafka source and sink options: the Java client config under `kafka.`, and on
        Event Hubs the profile's knobs too.

        On Apache Kafka, Spark's Java clients keep their own defaults (a 120 s delivery
        timeout, 30 s requests), the values the broker- and worker-kill tests hold; the
        python producer's shorter timeouts suit a process that reports and retries itself.
        """
        config = dict(self.java_client_config())
        if self.client.platform == "eventhubs":
            config.update(self.java_tuning_config())
        return {f"kafka.{key}": value for key, value in config.items()}

    def described(self) -> dict[str, Any]:
        """How clients connect, safe to print: secrets masked."""
        shown: dict[str, Any] = {"bootstrap": self.bootstrap_servers,
                                 "security_protocol": self.security_protocol}
        if self.uses_sasl:
            shown.update(sasl_mechanism=self.sasl_mechanism, sasl_username=self.sasl_username,
                         sasl_password="***" if (self.sasl_password or self.sasl_password_file)
                         else None)
        if self.uses_tls:
            shown["ssl_cafile"] = str(self.ssl_cafile) if self.ssl_cafile else None
        shown["client_platform"] = self.client.platform
        return shown


class PostgresSettings(BaseModel):
    """The throwaway local cluster's port, database and roles."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = 5433
    database: str = "paystream"
    user: str = "paystream"
    password: SecretStr = SecretStr("paystream")
    readonly_user: str = "paystream_reader"
    readonly_password: SecretStr = SecretStr("paystream_reader")
    analyst_user: str = Field(
        default="paystream_analyst",
        description="The role the dashboard's review queue writes dispositions with: it reads "
                    "`payments` and may write payments.alert_dispositions only")
    analyst_password: SecretStr = SecretStr("paystream_analyst")
    transactions_retention_days: int = Field(
        default=7, ge=0,
        description="Days of payments payments.transactions keeps (today included); older day "
                    "partitions are dropped by the maintenance DAG; 0 writes no payments there")
    external: bool = Field(
        default=False,
        description="The server at host:port is not the project's own (a container, a managed "
                    "server): never start the embedded one. PAYSTREAM_POSTGRES_DSN implies it")
    start_timeout_s: float = 30.0
    ssl: bool = Field(
        default=False,
        description="The embedded server also serves TLS (a self-signed certificate made at "
                    "first start under the state folder)")
    sslmode: PostgresSslMode | None = Field(
        default=None, description="libpq sslmode for every connection (e.g. require); unset = "
                                  "the DSN's own or libpq's default")
    sslrootcert: Path | None = Field(
        default=None, description="CA file for sslmode verify-ca / verify-full")


class SparkSettings(BaseModel):
    """The local Spark session's master, memory and shuffle width."""

    model_config = ConfigDict(frozen=True)

    master: str = "local[*]"
    driver_memory: str = "2g"
    shuffle_partitions: int = 4
    ui_enabled: bool = False
    class_data_sharing: bool = Field(
        default=True, description="map the driver's class archive `paystream setup` records "
        "(a Spark driver starts on about a third less CPU)")
    garbage_collector: Literal["G1", "Parallel"] = Field(
        default="G1", description="the driver's and executors' JVM collector: G1 keeps pauses "
        "short for the alert queries; Parallel spends less CPU (the test profile's choice)")
    standalone_workers: int = Field(
        default=0, description="Workers of a Spark standalone cluster `up` starts (0 = none)")
    standalone_host: str = "127.0.0.1"
    standalone_port: int = 7077
    standalone_ui_port: int = Field(default=8090, description="master UI; worker n: + n")
    standalone_start_timeout_s: float = 90.0
    worker_cores: int = 1
    worker_memory: str = "1g"
    executor_memory: str = "768m"
    driver_host: str = Field(
        default="127.0.0.1",
        description="The name executors reach the driver by (a container's service name)")
    driver_bind_address: str = Field(
        default="127.0.0.1", description="Where the driver listens (0.0.0.0 in a container)")


AzureAuth = Literal["shared_key", "service_principal", "managed_identity", "workload_identity"]


class AzureSettings(BaseModel):
    """How Spark and the Python readers reach an `abfss://` lake (ADLS Gen2).

    `shared_key`: the account key. `service_principal`: OAuth client credentials.
    `managed_identity`: the instance metadata endpoint (VMs, AKS, Databricks; not Container
    Apps, whose identity endpoint Hadoop's MSI provider does not speak). `workload_identity`:
    a federated token file (AKS workload identity).
    """

    model_config = ConfigDict(frozen=True)

    storage_account: str | None = Field(
        default=None, description="The ADLS Gen2 account; unset = read from the abfss:// root")
    auth: AzureAuth = "shared_key"
    client_id: str | None = None
    tenant_id: str | None = None
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    account_key: SecretStr | None = None
    account_key_file: Path | None = None
    federated_token_file: Path | None = None
    max_retries: int | None = Field(
        default=None, description="ABFS request retries (fs.azure.io.retry.max.retries); "
                                  "unset = the connector's default")

    def secret(self) -> str | None:
        """The client secret (service principal) or account key (shared key) in use."""
        if self.auth == "service_principal":
            return _secret(self.client_secret, self.client_secret_file, "the Azure client secret")
        if self.auth == "shared_key":
            return _secret(self.account_key, self.account_key_file, "the storage account key")
        return None


class AirflowSettings(BaseModel):
    """Where `paystream airflow` serves Airflow standalone, and how wide it runs."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = 8080
    parallelism: int = 4
    start_timeout_s: float = 180.0
    dags_paused_at_creation: bool = Field(
        default=False,
        description="Start new DAGs paused (the test profile does, so runs happen only on demand)")


class DemoSettings(BaseModel):
    """What `paystream demo` runs beside the services: producer, stream and dashboard."""

    model_config = ConfigDict(frozen=True)

    rate: float = Field(default=50.0, description="the demo producer's events per second")
    fraud_rate: float = Field(default=0.03, description="share of fraud scenario events")
    fault_rate: float = Field(default=0.02, description="share of events with a data fault")
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8501
    airflow: bool = Field(default=True, description="start Airflow and trigger the DAGs")
    first_alert_timeout_s: float = Field(
        default=300.0, description="how long `demo` waits for the first alert in PostgreSQL")
    stream_stop_timeout_s: int = Field(
        default=120, description="how long the stream may take to finish its batch on stop")


class PipelineSettings(BaseModel):
    """How the streaming pipeline batches, waits for late events and reports."""

    model_config = ConfigDict(frozen=True)

    allowed_lateness_s: int = 1800
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int = 50_000
    max_files_per_trigger: int = 50
    realtime_batch: str = Field(
        default="1 minute",
        description="Real-time mode's batch length (instant query): its checkpoint interval")
    lake_trigger_s: int = Field(
        default=30, description="The lake query's trigger interval (bronze, silver, activity)")
    postgres_retry_s: float = Field(
        default=600.0, description="How long an alert write waits for PostgreSQL to come back")
    rules_poll_s: float = Field(
        default=2.0, gt=0,
        description="How often the running stream reads the rules file for a new version")
    factors_poll_s: float = Field(
        default=30.0, gt=0,
        description="How often the running stream looks for new category factors and a new "
                    "risk model (a new version of gold.category_factors or a new champion of "
                    "gold.risk_models restarts the stateful query)")
    instant_realtime: bool = Field(
        default=True,
        description="Run the instant query in real-time mode; false = 0-second micro-batches")
    risk_decisions: bool = Field(
        default=True,
        description="The stateful query keeps behavioural profiles, reads Kafka `labels` and "
                    "writes a risk decision per payment to Kafka `decisions`")
    stateful_partitions: int | None = Field(
        default=None, ge=1,
        description="Tasks per stateful stage (user stage by Kafka partition, merchant stage by "
                    "merchant); default the `transactions` partition count. A checkpoint keeps "
                    "its width: another width starts the stateful query afresh")


class Settings(BaseSettings):
    """Everything an entry point needs to know about where things are."""

    model_config = SettingsConfigDict(
        env_prefix="PAYSTREAM_",
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
    )

    profile: str = "local"
    home: Path = PROJECT_ROOT / ".paystream"
    lake_root: Path | str | None = Field(
        default=None, description="A folder, or a URI such as abfss://lake@account.dfs.core."
                                  "windows.net/paystream; default $PAYSTREAM_HOME/lake")
    jars_dir: Path | None = None
    postgres_dsn: SecretStr | None = None
    rules_file: Path = Field(
        default=CONFIG_DIR / "rules.yaml",
        description="The rule set the stream, backfill, backtest, producer and dashboard read")
    fx_rates_file: Path = Field(
        default=FX_TABLE_PATH,
        description="EUR per unit of each accepted currency (CSV: currency,eur_per_unit); a "
                    "currency it does not list is quarantined as unknown_currency")
    postgres_dsn_file: Path | None = Field(
        default=None, description="A file holding the DSN (a mounted secret); the DSN wins")
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    spark: SparkSettings = SparkSettings()
    pipeline: PipelineSettings = PipelineSettings()
    airflow: AirflowSettings = AirflowSettings()
    demo: DemoSettings = DemoSettings()
    azure: AzureSettings = AzureSettings()

    @model_validator(mode="after")
    def _absolute_paths(self) -> Settings:
        """Relative paths are taken from the project root, wherever the command runs."""
        home = _absolute(self.home)
        object.__setattr__(self, "home", home)
        lake = self.lake_root or home / "lake"
        object.__setattr__(self, "lake_root",
                           str(lake).rstrip("/") if is_uri(lake) else _absolute(Path(lake)))
        object.__setattr__(self, "jars_dir", _absolute(self.jars_dir or home / "jars"))
        object.__setattr__(self, "rules_file", _absolute(self.rules_file))
        object.__setattr__(self, "fx_rates_file", _absolute(self.fx_rates_file))
        kafka = self.kafka
        if kafka.embedded and kafka.uses_tls and kafka.ssl_cafile is None:
            object.__setattr__(self, "kafka", kafka.model_copy(
                update={"ssl_cafile": self.embedded_kafka_tls_dir / "ca.pem"}))
        pg = self.postgres
        if not self.postgres_external and pg.ssl and pg.sslmode in ("verify-ca", "verify-full") \
                and pg.sslrootcert is None:
            object.__setattr__(self, "postgres", pg.model_copy(
                update={"sslrootcert": self.embedded_postgres_tls_dir / "server.crt"}))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        profile = os.environ.get("PAYSTREAM_PROFILE", "local")
        profile_file = CONFIG_DIR / f"{profile}.yaml"
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=profile_file)
        return (init_settings, env_settings, yaml_source)

    @property
    def logs_dir(self) -> Path:
        """Where every service writes its log."""
        return self.home / "logs"

    @property
    def rules_versions_dir(self) -> Path:
        """Where each version of the rules file the stream ran is kept, named by its hash."""
        return self.home / "rules"

    @property
    def run_dir(self) -> Path:
        """Where pid files and the service manifest live."""
        return self.home / "run"

    @property
    def lake(self) -> Path:
        """The lake root as a local Path (never None after validation; see `lake_uri` for a
        remote lake)."""
        assert isinstance(self.lake_root, Path), f"the lake {self.lake_root} is not local"
        return self.lake_root

    @property
    def lake_location(self) -> Path | str:
        """The lake root as Spark and delta-rs take it: a local Path or a remote URI."""
        assert self.lake_root is not None
        return self.lake_root

    @property
    def lake_is_local(self) -> bool:
        """True when the lake is a folder on this machine."""
        return isinstance(self.lake_root, Path)

    @property
    def jars(self) -> Path:
        """The jar cache folder (never None after validation)."""
        assert self.jars_dir is not None
        return self.jars_dir

    @property
    def embedded_kafka_tls_dir(self) -> Path:
        """Where the embedded broker keeps its keystore and the CA clients trust."""
        return self.home / "kafka" / "tls"

    @property
    def embedded_postgres_tls_dir(self) -> Path:
        """Where the embedded PostgreSQL keeps its certificate and key."""
        return self.home / "postgres" / "tls"

    @property
    def postgres_external(self) -> bool:
        """True when PAYSTREAM_POSTGRES_DSN (or _FILE) names a server the project does not run."""
        return (self.postgres_dsn is not None or self.postgres_dsn_file is not None
                or self.postgres.external)

    def postgres_url(self) -> str:
        """The DSN of the owner role: the external one, or the local cluster's; with the
        sslmode and CA file settings applied."""
        from psycopg2.extensions import make_dsn

        pg = self.postgres
        external = _secret(self.postgres_dsn, self.postgres_dsn_file, "the PostgreSQL DSN")
        dsn = external or postgres_uri(pg.user, pg.password.get_secret_value(), pg.host, pg.port,
                                       pg.database)
        tls = {key: str(value) for key, value in
               (("sslmode", pg.sslmode), ("sslrootcert", pg.sslrootcert)) if value is not None}
        return str(make_dsn(dsn, **tls)) if tls else dsn

    def postgres_readonly_url(self) -> str:
        """The DSN of the read-only role the dashboard uses."""
        return self._postgres_role_url(self.postgres.readonly_user,
                                       self.postgres.readonly_password)

    def postgres_analyst_url(self) -> str:
        """The DSN of the analyst role the review queue writes dispositions with."""
        return self._postgres_role_url(self.postgres.analyst_user,
                                       self.postgres.analyst_password)

    def _postgres_role_url(self, user: str, password: SecretStr) -> str:
        from psycopg2.extensions import make_dsn, parse_dsn

        params: dict[str, Any] = parse_dsn(self.postgres_url())
        params["user"] = user
        params["password"] = password.get_secret_value()
        return str(make_dsn(**params))


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once for an entry point (overrides win over env and YAML); invalid
    settings fail in one line that names each setting and never echoes its value."""
    from pydantic import ValidationError

    from lakehouse.errors import PaystreamError

    try:
        return Settings(**overrides)
    except ValidationError as error:
        reasons = "; ".join(f"{'.'.join(str(part) for part in entry['loc']) or 'settings'}: "
                            f"{entry['msg'].removeprefix('Value error, ')}"
                            for entry in error.errors(include_input=False, include_url=False))
        raise PaystreamError(f"invalid settings: {reasons}") from error
