"""Streaming and batch Spark entry points: bronze, silver, gold and backfill (one module per table)."""
