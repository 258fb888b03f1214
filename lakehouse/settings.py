"""One frozen settings object, built once per entry point and passed down.

Sources, highest priority first: keyword arguments, environment variables with
the ``PAYSTREAM_`` prefix (nested fields with ``__``, e.g.
``PAYSTREAM_KAFKA__PORT``), then the YAML profile ``config/<profile>.yaml``
chosen by ``PAYSTREAM_PROFILE`` (default ``local``), then the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from lakehouse import PROJECT_ROOT

CONFIG_DIR = PROJECT_ROOT / "config"


def _absolute(path: Path) -> Path:
    path = path.expanduser()
    return (path if path.is_absolute() else PROJECT_ROOT / path).resolve()


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
    start_timeout_s: float = 30.0


class SparkSettings(BaseModel):
    """The local Spark session's master, memory and shuffle width."""

    model_config = ConfigDict(frozen=True)

    master: str = "local[*]"
    driver_memory: str = "2g"
    shuffle_partitions: int = 4
    ui_enabled: bool = False
    standalone_workers: int = Field(
        default=0, description="Workers of a Spark standalone cluster `up` starts (0 = none)")
    standalone_host: str = "127.0.0.1"
    standalone_port: int = 7077
    standalone_ui_port: int = Field(default=8090, description="master UI; worker n: + n")
    standalone_start_timeout_s: float = 90.0
    worker_cores: int = 1
    worker_memory: str = "1g"
    executor_memory: str = "768m"


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
    instant_realtime: bool = Field(
        default=True,
        description="Run the instant query in real-time mode; false = 0-second micro-batches")


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
    lake_root: Path | None = None
    jars_dir: Path | None = None
    postgres_dsn: SecretStr | None = None
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    spark: SparkSettings = SparkSettings()
    pipeline: PipelineSettings = PipelineSettings()
    airflow: AirflowSettings = AirflowSettings()
    demo: DemoSettings = DemoSettings()

    @model_validator(mode="after")
    def _absolute_paths(self) -> Settings:
        """Relative paths are taken from the project root, wherever the command runs."""
        home = _absolute(self.home)
        object.__setattr__(self, "home", home)
        object.__setattr__(self, "lake_root", _absolute(self.lake_root or home / "lake"))
        object.__setattr__(self, "jars_dir", _absolute(self.jars_dir or home / "jars"))
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
    def run_dir(self) -> Path:
        """Where pid files and the service manifest live."""
        return self.home / "run"

    @property
    def lake(self) -> Path:
        """The lake root as a Path (never None after validation)."""
        assert self.lake_root is not None
        return self.lake_root

    @property
    def jars(self) -> Path:
        """The jar cache folder (never None after validation)."""
        assert self.jars_dir is not None
        return self.jars_dir

    @property
    def postgres_external(self) -> bool:
        """True when PAYSTREAM_POSTGRES_DSN names a server the project does not run."""
        return self.postgres_dsn is not None

    def postgres_url(self) -> str:
        """The DSN of the owner role: the external one, or the local cluster's."""
        if self.postgres_dsn is not None:
            return self.postgres_dsn.get_secret_value()
        pg = self.postgres
        return (
            f"postgresql://{pg.user}:{pg.password.get_secret_value()}"
            f"@{pg.host}:{pg.port}/{pg.database}"
        )

    def postgres_readonly_url(self) -> str:
        """The DSN of the read-only role the dashboard uses."""
        from psycopg2.extensions import make_dsn, parse_dsn

        params: dict[str, Any] = parse_dsn(self.postgres_url())
        params["user"] = self.postgres.readonly_user
        params["password"] = self.postgres.readonly_password.get_secret_value()
        return str(make_dsn(**params))


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once for an entry point (overrides win over env and YAML)."""
    return Settings(**overrides)
