"""Outbound webhooks: endpoints, signed deliveries, durable retries, replay."""
