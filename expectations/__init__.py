"""Great Expectations suites, one per table, and their runner."""
