"""Ingest: web-form webhooks, trade-show files and activities -> Kafka."""
