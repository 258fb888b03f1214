"""Small process helpers: free ports, pid files, waiting, and running as the postgres user."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lakehouse.errors import PaystreamError


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port and we could bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free_port(host: str, port: int, service: str, setting: str) -> None:
    """Raise a one-line error naming the setting to change when host:port is taken."""
    if not port_is_free(host, port):
        raise PaystreamError(
            f"port {port} on {host} ({service}) is in use by another process: "
            f"stop it or choose another port with {setting}"
        )


def tcp_reachable(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def read_pid(pid_file: Path) -> int | None:
    """The pid in a pid file, or None when the file is missing or stale."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def process_cmdline(pid: int) -> str:
    """The command line of a process, with spaces between arguments ('' if unknown)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def terminate(pid: int, timeout_s: float = 30.0) -> None:
    """SIGTERM a process group, then SIGKILL it if it has not exited within the timeout."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    if wait_until(lambda: not pid_alive(pid), timeout_s):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(pid), 5.0)


def process_tree(pid: int) -> list[Any]:
    """A process and all its descendants (psutil handles; empty when it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def reap(family: list[Any], timeout_s: float) -> None:
    """Wait for processes to exit; SIGKILL whichever remain after the timeout."""
    import psutil

    _, alive = psutil.wait_procs(family, timeout=timeout_s)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(alive, timeout=5)


def terminate_tree(pid: int, timeout_s: float = 30.0) -> None:
    """SIGTERM a process, its process group and every descendant (some start their own
    session), then SIGKILL whatever is left after the timeout."""
    import psutil

    family = process_tree(pid)
    if not family:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.terminate()
    reap(family, timeout_s)


def wait_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.2) -> bool:
    """Poll a condition until it holds or the timeout passes; return whether it held."""
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def running_as_root() -> bool:
    """True when this process runs as root (initdb and postgres then run as `postgres`)."""
    return os.geteuid() == 0


def as_postgres_user(argv: list[str]) -> list[str]:
    """Prefix a command so it runs as the `postgres` user when we are root."""
    return ["runuser", "-u", "postgres", "--", *argv] if running_as_root() else argv


def run_checked(argv: list[str], what: str, log: Path | None = None) -> None:
    """Run a command; on failure raise a one-line error that names the log."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        if log is not None:
            with open(log, "a") as out:
                out.write(result.stdout + result.stderr)
        last = (result.stderr or result.stdout).strip().splitlines()
        reason = last[-1] if last else f"exit code {result.returncode}"
        where = f"; see {log}" if log is not None else ""
        raise PaystreamError(f"{what} failed: {reason}{where}")
