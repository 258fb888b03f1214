"""Stores: the clients jobs, sinks and pages open (PostgreSQL today); imports only lakehouse."""
