"""The local stack: embedded PostgreSQL, a single-node KRaft Kafka, the services."""
