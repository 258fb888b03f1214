"""Airflow standalone (API server, scheduler, DAG processor, triggerer) under the state folder.

AIRFLOW_HOME is `$PAYSTREAM_HOME/airflow` and the DAGs come from `dags/`. The
login is Airflow's simple auth manager user `admin`, whose password Airflow
generates on first start into `$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakehouse import PROJECT_ROOT
from lakehouse.errors import PaystreamError
from lakehouse.settings import Settings
from paystream.runtime import processes

ADMIN = "admin"


@dataclass(frozen=True)
class AirflowInfo:
    """Where Airflow answers and how to log in."""

    url: str
    user: str
    password: str | None
    log: Path


def airflow_home(settings: Settings) -> Path:
    """AIRFLOW_HOME for this state folder."""
    return settings.home / "airflow"


def airflow_env(settings: Settings) -> dict[str, str]:
    """The environment Airflow (and every task it runs) gets."""
    venv_bin = str(Path(sys.executable).parent)
    conf = settings.airflow
    return {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(airflow_home(settings)),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(conf.dags_paused_at_creation),
        "AIRFLOW__CORE__PARALLELISM": str(conf.parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(conf.parallelism),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__API__HOST": conf.host,
        "AIRFLOW__API__PORT": str(conf.port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "PAYSTREAM_PROFILE": settings.profile,
        "PAYSTREAM_HOME": str(settings.home),
        "PAYSTREAM_LAKE_ROOT": str(settings.lake_location),
    }


def _pid_file(settings: Settings) -> Path:
    return settings.run_dir / "airflow.pid"


def _healthy(settings: Settings) -> bool:
    url = f"http://{settings.airflow.host}:{settings.airflow.port}/api/v2/monitor/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def login_password(settings: Settings) -> str | None:
    """The admin password Airflow generated, once it has."""
    path = airflow_home(settings) / "simple_auth_manager_passwords.json.generated"
    try:
        return str(json.loads(path.read_text())[ADMIN])
    except (OSError, ValueError, KeyError):
        return None


def info(settings: Settings) -> AirflowInfo:
    """The UI URL, the login and the log of this state folder's Airflow."""
    return AirflowInfo(f"http://{settings.airflow.host}:{settings.airflow.port}", ADMIN,
                       login_password(settings), settings.logs_dir / "airflow.log")


def running(settings: Settings) -> bool:
    """True when the Airflow this state folder started is alive."""
    pid = processes.read_pid(_pid_file(settings))
    return pid is not None and processes.pid_alive(pid)


def start(settings: Settings) -> AirflowInfo:
    """Start Airflow standalone in the background (if not running) and wait for its API."""
    if running(settings):
        return info(settings)
    conf = settings.airflow
    processes.require_free_port(conf.host, conf.port, "Airflow", "PAYSTREAM_AIRFLOW__PORT")
    for folder in (airflow_home(settings), settings.logs_dir, settings.run_dir):
        folder.mkdir(parents=True, exist_ok=True)
    log = settings.logs_dir / "airflow.log"
    with open(log, "ab") as out:
        process = subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "standalone"],
                                   env=airflow_env(settings), stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   cwd=PROJECT_ROOT)
    _pid_file(settings).write_text(str(process.pid))
    ready = processes.wait_until(
        lambda: process.poll() is not None or (_healthy(settings) and
                                              login_password(settings) is not None),
        conf.start_timeout_s, interval_s=1.0)
    if process.poll() is not None or not ready:
        stop(settings)
        raise PaystreamError(f"Airflow did not come up within {conf.start_timeout_s:.0f} s; "
                             f"see {log}")
    return info(settings)


def _api(settings: Settings, method: str, path: str, body: dict[str, Any],
         token: str | None = None) -> dict[str, Any]:
    """One JSON call to Airflow's REST API; a refusal becomes a one-line error."""
    import urllib.error

    request = urllib.request.Request(
        f"{info(settings).url}{path}", method=method, data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return dict(json.loads(response.read() or b"{}"))
    except urllib.error.HTTPError as error:
        detail = " ".join(error.read().decode(errors="replace").split())[:200]
        raise PaystreamError(f"Airflow refused {method} {path}: {error.code} {detail}") from error
    except OSError as error:
        raise PaystreamError(f"Airflow at {info(settings).url} did not answer: {error}") from error


def trigger(settings: Settings, dag_id: str) -> str:
    """Start a run of a DAG with logical date now, through the REST API; return its run id."""
    from datetime import UTC, datetime

    password = login_password(settings)
    if password is None:
        raise PaystreamError(f"Airflow has no login yet; see {info(settings).log}")
    token = _api(settings, "POST", "/auth/token", {"username": ADMIN, "password": password})
    run = _api(settings, "POST", f"/api/v2/dags/{dag_id}/dagRuns",
               {"logical_date": datetime.now(UTC).isoformat()}, token["access_token"])
    return str(run["dag_run_id"])


def stop(settings: Settings) -> bool:
    """Stop this state folder's Airflow and every process it started; True if it was running."""
    pid = processes.read_pid(_pid_file(settings))
    if pid is None or not processes.pid_alive(pid):
        _pid_file(settings).unlink(missing_ok=True)
        return False
    processes.terminate_tree(pid, timeout_s=30)
    _pid_file(settings).unlink(missing_ok=True)
    return True
