"""Streaming and batch Spark jobs: bronze, silver, gold and backfill, one module per table."""
