"""Apply the `payments` schema idempotently and keep the dashboard's read-only role in step.

Each file in lakehouse/sql/ is applied once, in name order, inside one
transaction guarded by an advisory lock, and recorded in
payments.schema_migrations. The files themselves use IF NOT EXISTS, so even a
lost bookkeeping row cannot make a re-run fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from psycopg2 import sql

from lakehouse.errors import PaystreamError
from lakehouse.settings import PostgresSettings, Settings
from lakehouse.stores.postgres import connect

SQL_DIR = Path(__file__).parent / "sql"
_LOCK_KEY = 0x5A7_57E4  # any constant: serialises concurrent migrators
# The profiles that run everything on this machine (config/local.yaml, test.yaml, cluster.yaml):
# only there may a login role keep its well-known default password.
LAPTOP_PROFILES = frozenset({"local", "test", "cluster"})
# login role -> (the setting with its password, the variable that sets it)
_ROLE_PASSWORDS = (("analyst_password", "PAYSTREAM_POSTGRES__ANALYST_PASSWORD"),
                   ("readonly_password", "PAYSTREAM_POSTGRES__READONLY_PASSWORD"))


def refuse_default_passwords(settings: Settings) -> None:
    """Fail in one line before any login role is created with its default password, unless the
    profile is one of the laptop's (pure)."""
    if settings.profile in LAPTOP_PROFILES:
        return
    for field, variable in _ROLE_PASSWORDS:
        default = PostgresSettings.model_fields[field].default.get_secret_value()
        if getattr(settings.postgres, field).get_secret_value() == default:
            raise PaystreamError(
                f"refusing to create a PostgreSQL login with its default password outside the "
                f"local profiles (profile {settings.profile}): set {variable}")


def migration_files() -> list[Path]:
    """The migration files in the order they apply."""
    return sorted(SQL_DIR.glob("*.sql"))


def migrate(settings: Settings) -> list[str]:
    """Apply pending migrations and grant the read-only and analyst roles (never with a default
    password outside the laptop's profiles); return the versions applied."""
    refuse_default_passwords(settings)
    applied: list[str] = []
    conn = connect(settings.postgres_url())
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            cur.execute("CREATE SCHEMA IF NOT EXISTS payments")
            cur.execute(
                "CREATE TABLE IF NOT EXISTS payments.schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur.execute("SELECT version FROM payments.schema_migrations")
            done = {row[0] for row in cur.fetchall()}
            for path in migration_files():
                if path.stem in done:
                    continue
                cur.execute(path.read_text())
                cur.execute("INSERT INTO payments.schema_migrations (version) VALUES (%s)",
                            (path.stem,))
                applied.append(path.stem)
            _ensure_readonly_role(cur, settings)
            _ensure_analyst_role(cur, settings)
    finally:
        conn.close()
    return applied


def _login_role(cur: Any, user: str, secret: str) -> tuple[sql.Identifier, sql.Identifier]:
    """Create or update a login role without privileges; return it and the database."""
    role = sql.Identifier(user)
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,))
    verb = "ALTER" if cur.fetchone() else "CREATE"
    cur.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE")
                .format(role, sql.Literal(secret)))
    cur.execute("SELECT current_database()")
    return role, sql.Identifier(cur.fetchone()[0])


def _ensure_analyst_role(cur: Any, settings: Settings) -> None:
    """Create or update the review queue's role: it reads `payments` and writes only
    payments.alert_dispositions (insert, and update of the analyst's own columns)."""
    role, database = _login_role(cur, settings.postgres.analyst_user,
                                 settings.postgres.analyst_password.get_secret_value())
    _grant_reading(cur, role, database, (
        "GRANT INSERT (transaction_id, alert_id, disposition, analyst, note, decided_at) "
        "ON payments.alert_dispositions TO {role}",
        "GRANT UPDATE (alert_id, disposition, analyst, note, decided_at) "
        "ON payments.alert_dispositions TO {role}"))


def _grant_reading(cur: Any, role: sql.Identifier, database: sql.Identifier,
                   extra: tuple[str, ...]) -> None:
    """Let a role read every `payments` table, plus `extra` grants; never create objects."""
    for statement in (
        "GRANT CONNECT ON DATABASE {db} TO {role}",
        "GRANT USAGE ON SCHEMA payments TO {role}",
        "GRANT SELECT ON ALL TABLES IN SCHEMA payments TO {role}",
        *extra,
        "REVOKE CREATE ON SCHEMA payments FROM {role}",
        "REVOKE CREATE ON SCHEMA public FROM {role}",
    ):
        cur.execute(sql.SQL(statement).format(db=database, role=role))


def _ensure_readonly_role(cur: Any, settings: Settings) -> None:
    """Create or update the dashboard's login role with SELECT-only rights on `payments`."""
    role, database = _login_role(cur, settings.postgres.readonly_user,
                                 settings.postgres.readonly_password.get_secret_value())
    _grant_reading(cur, role, database, (
        "ALTER DEFAULT PRIVILEGES IN SCHEMA payments GRANT SELECT ON TABLES TO {role}",))
