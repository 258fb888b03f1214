"""The top floor: the `paystream` command, which wires every package below it.

Nothing imports this package; it imports the core library (lakehouse), the producer, the
Spark jobs, the data-quality runner and the dashboard (the import-linter contract in
pyproject.toml holds the floors).
"""
