"""A throwaway PostgreSQL cluster under the state folder (initdb + pg_ctl), or an external DSN."""

from __future__ import annotations

import glob
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from lakehouse.errors import PaystreamError
from lakehouse.settings import Settings
from lakehouse.stores.postgres import connect
from paystream.runtime import processes


@dataclass(frozen=True)
class ClusterPaths:
    """Where the local cluster's data, socket and log live."""

    root: Path
    data: Path
    socket_dir: Path
    log: Path

    @classmethod
    def of(cls, settings: Settings) -> ClusterPaths:
        """The cluster's paths for these settings."""
        root = settings.home / "postgres"
        return cls(root=root, data=root / "data", socket_dir=root / "run",
                   log=settings.logs_dir / "postgres.log")


def server_bindir() -> Path:
    """The folder with initdb and pg_ctl (Debian keeps them under /usr/lib/postgresql)."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    raise PaystreamError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install them "
        "(apt-get install postgresql) or set PAYSTREAM_POSTGRES_DSN to a server"
    )


def is_running(settings: Settings) -> bool:
    """True when the local cluster in this state folder has a live postmaster."""
    pid_file = ClusterPaths.of(settings).data / "postmaster.pid"
    return processes.read_pid(pid_file) is not None


def _own_for_postgres(path: Path) -> None:
    if processes.running_as_root():
        shutil.chown(path, user="postgres", group="postgres")


def _check_postgres_can_write(folder: Path) -> None:
    if not processes.running_as_root():
        return
    import subprocess

    probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-w", str(folder)],
                           capture_output=True, check=False)
    if probe.returncode != 0:
        raise PaystreamError(
            f"the postgres user cannot write to {folder}: choose a PAYSTREAM_HOME "
            "whose parent folders it can enter (not under /root or a 0700 folder)"
        )


def init_cluster(settings: Settings) -> None:
    """Run initdb once: owner role with a password, scram auth over TCP, trust on the socket."""
    paths = ClusterPaths.of(settings)
    if (paths.data / "PG_VERSION").exists():
        return
    bindir = server_bindir()
    for folder in (paths.root, paths.data, paths.socket_dir):
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        _own_for_postgres(folder)
    _check_postgres_can_write(paths.data)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    pwfile = paths.root / "pwfile"
    pwfile.write_text(settings.postgres.password.get_secret_value() + "\n")
    os.chmod(pwfile, 0o600)
    _own_for_postgres(pwfile)
    try:
        processes.run_checked(
            processes.as_postgres_user([
                str(bindir / "initdb"), "-D", str(paths.data), "-U", settings.postgres.user,
                f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=trust",
                "-E", "UTF8", "--no-locale", "--no-sync",
            ]),
            "initdb",
        )
    finally:
        pwfile.unlink(missing_ok=True)


def ensure_certificate(settings: Settings) -> tuple[Path, Path]:
    """The embedded server's self-signed certificate and key (made once, owned by the
    server's user, key readable by it alone)."""
    from paystream.runtime.certificates import self_signed_pem

    folder = settings.embedded_postgres_tls_dir
    cert, key = folder / "server.crt", folder / "server.key"
    if not (cert.exists() and key.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        cert_pem, key_pem = self_signed_pem("paystream-postgres", settings.postgres.host)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key_pem)
        cert.write_bytes(cert_pem)
        for path in (folder, cert, key):
            _own_for_postgres(path)
    return cert, key


def start(settings: Settings) -> float:
    """Start the local cluster and create the database; return the seconds it took."""
    started = time.monotonic()
    paths = ClusterPaths.of(settings)
    init_cluster(settings)
    if not paths.log.exists():
        paths.log.touch()
    _own_for_postgres(paths.log)
    pg = settings.postgres
    options = (
        f"-p {pg.port} -k {paths.socket_dir} -c listen_addresses={pg.host} "
        "-c max_connections=200 -c shared_buffers=128MB -c fsync=on"
    )
    if pg.ssl:
        cert, key = ensure_certificate(settings)
        options += f" -c ssl=on -c ssl_cert_file={cert} -c ssl_key_file={key}"
    processes.run_checked(
        processes.as_postgres_user([
            str(server_bindir() / "pg_ctl"), "-D", str(paths.data), "-l", str(paths.log),
            "-w", "-t", str(int(pg.start_timeout_s)), "-o", options, "start",
        ]),
        "starting PostgreSQL",
        log=paths.log,
    )
    _create_database(settings)
    return time.monotonic() - started


def _create_database(settings: Settings) -> None:
    pg = settings.postgres
    from psycopg2.extensions import make_dsn

    maintenance = make_dsn(settings.postgres_url(), dbname="postgres")
    conn = connect(maintenance)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (pg.database,))
            if cur.fetchone() is None:
                from psycopg2 import sql

                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(pg.database)))
    finally:
        conn.close()


def stop(settings: Settings) -> bool:
    """Stop the local cluster of this state folder; return whether it was running."""
    if not is_running(settings):
        return False
    paths = ClusterPaths.of(settings)
    processes.run_checked(
        processes.as_postgres_user([
            str(server_bindir() / "pg_ctl"), "-D", str(paths.data), "-m", "fast", "-w", "stop",
        ]),
        "stopping PostgreSQL",
        log=paths.log,
    )
    return True
