"""Synthetic and replayed payment events, sent to Kafka. Imports only the core library."""
