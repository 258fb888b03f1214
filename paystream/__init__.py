"""The top floor: the `paystream` command (cli) and the local dev runtime beside it (runtime).

Nothing in the product imports this package. The command wires every package below it;
the runtime (broker, PostgreSQL, Airflow, Spark cluster, supervisor) imports only the core
library (lakehouse). The import-linter contract in pyproject.toml holds the floors.
"""
