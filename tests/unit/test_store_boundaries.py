"""Stores own their clients: the dashboard and the expectations runner hold no PostgreSQL
statement and build no PostgreSQL or Kafka client; they call lakehouse.stores."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STORE_USERS = ("dashboard", "expectations")
POSTGRES_STATEMENT = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|MERGE|TRUNCATE|COPY)\b.*\bpayments\.", re.DOTALL)
CLIENT_MODULES = ("psycopg2", "psycopg", "kafka", "confluent_kafka")
CLIENT_NAMES = re.compile(r"^(KafkaConsumer|KafkaProducer|KafkaAdminClient)$")


def _string_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal with its line; an f-string's pieces joined around `{}`."""
    inside_fstrings = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
                       for part in node.values}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            found.append((node.lineno, "".join(
                part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in inside_fstrings):
            found.append((node.lineno, node.value))
    return found


def postgres_statements(source: str) -> list[tuple[int, str]]:
    """The string literals of a module that read or write a table of the payments schema."""
    return [(line, text) for line, text in _string_literals(ast.parse(source))
            if POSTGRES_STATEMENT.search(text)]


def _type_only(tree: ast.AST) -> set[int]:
    """The nodes under `if TYPE_CHECKING:` (annotations only: they build nothing)."""
    return {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
            and "TYPE_CHECKING" in ast.unparse(node.test)
            for statement in node.body for inner in ast.walk(statement)}


def client_uses(source: str) -> list[tuple[int, str]]:
    """The imports of a PostgreSQL or Kafka client library, and the Kafka client classes named
    (type-only imports aside)."""
    tree = ast.parse(source)
    type_only = _type_only(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names
                      if a.name.split(".")[0] in CLIENT_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] in CLIENT_MODULES:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if CLIENT_NAMES.match(name):
                found.append((node.lineno, name))
    return found


def _sources() -> list[Path]:
    return sorted(path for package in STORE_USERS for path in (REPO / package).rglob("*.py"))


def test_the_checks_catch_sql_and_clients_in_every_spelling() -> None:
    source = '''
import psycopg2
from kafka import KafkaConsumer
QUERY = """
SELECT a, b
FROM payments.alerts
"""
columns = "a, b"
def f(cur, limit):
    cur.execute(f"SELECT {columns} FROM payments.transactions LIMIT %s", [limit])
    cur.execute("INSERT INTO payments.dq_results (run_id) "
                "VALUES (%s)", ["r"])
    return KafkaConsumer()
if TYPE_CHECKING:
    from psycopg2.extensions import connection
'''
    assert [line for line, _ in postgres_statements(source)] == [4, 10, 11]
    assert [name for _, name in client_uses(source)] == ["psycopg2", "kafka", "KafkaConsumer"]
    lake = 'lake_frame(root, "SELECT * FROM silver_transactions WHERE event_date = ?")'
    prose = '"""Each run\'s summary goes to PostgreSQL payments.dq_results."""'
    assert postgres_statements(lake) == [] and postgres_statements(prose) == []


def test_the_dashboard_and_the_runner_hold_no_postgres_statement() -> None:
    assert _sources(), "no sources found"
    found = {str(path.relative_to(REPO)): hits for path in _sources()
             if (hits := postgres_statements(path.read_text()))}
    assert found == {}, ("PostgreSQL statements belong in lakehouse/stores/postgres.py "
                         f"(a named function each): {found}")


def test_the_dashboard_and_the_runner_build_no_postgres_or_kafka_client() -> None:
    found = {str(path.relative_to(REPO)): hits for path in _sources()
             if (hits := client_uses(path.read_text()))}
    assert found == {}, ("clients come from lakehouse.stores (postgres.connect / read_only, "
                         f"kafka.consumer / admin_client): {found}")
