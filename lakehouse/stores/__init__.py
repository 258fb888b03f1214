"""Stores: the Kafka and PostgreSQL clients, and the PostgreSQL statements, that jobs, sinks and
pages use; imports only lakehouse."""
