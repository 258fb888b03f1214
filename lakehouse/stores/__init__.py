"""Stores, one module per system, each owning its clients: delta (every declared table's
handle), kafka (admin client, consumers, Spark's Kafka reader and writer) and postgres
(connections and every statement run against payments); imports only lakehouse."""
