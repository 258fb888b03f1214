"""Streaming and batch Spark jobs: bronze, silver, gold, alerts, backfill, one module per table.

Imports the core library (lakehouse) only; the producer, the pages and the command sit above.
"""
