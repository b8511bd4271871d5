"""The Kafka failures callers tell apart."""

from __future__ import annotations


class KafkaUnavailable(RuntimeError):
    """Kafka did not acknowledge in time; nothing may be reported as accepted."""


class KafkaAuthenticationFailed(KafkaUnavailable):
    """The broker refused the client's credentials or TLS handshake. A configuration error:
    start-up stops on it instead of waiting for Kafka. (Still :class:`KafkaUnavailable` for a
    caller that publishes: nothing was accepted.)"""
