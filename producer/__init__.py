"""Synthetic and replayed payment events, sent to Kafka."""
