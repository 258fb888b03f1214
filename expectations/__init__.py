"""Great Expectations suites, one per table, and their runner. Imports lakehouse and spark_jobs."""
