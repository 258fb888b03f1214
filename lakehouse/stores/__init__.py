"""Stores: the Kafka and PostgreSQL clients jobs, sinks and pages open; imports only lakehouse."""
