"""The local dev runtime: real services the project starts itself (no Docker needed).

Imports only the core library (lakehouse); only the command (paystream.cli), the benchmarks
and the tests import it, never a job, a page or a DAG: production points its settings at
its own Kafka, PostgreSQL and Spark instead.
"""
