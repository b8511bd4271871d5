"""Settings shared by every leadflow process (env prefix ``LEADFLOW_``).

Each service subclasses :class:`CommonSettings`. Secrets have no defaults outside
``LEADFLOW_ENV=dev``; placeholders are rejected at start-up so a misconfigured
deployment fails loudly instead of running with a guessable secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.dispositions import DEFAULT_DISPOSITIONS_FILE
from shared.kafka.security import (
    KafkaConnection,
    SaslMechanism,
    SecurityProtocol,
    security_problems,
)
from shared.kafka.topics import DLQ_RETENTION_DAYS

# Dev defaults, printed in the README. They are placeholders everywhere else.
DEV_WEBHOOK_SECRET = (
    "whsec_bGVhZGZsb3ctZGV2LXdlYmhvb2stc2VjcmV0LTAwMDE="  # "leadflow-dev-webhook-secret-0001"
)
DEV_ADMIN_TOKEN = "leadflow-dev-admin-token"
DEV_ERASURE_HASH_KEY = "leadflow-dev-erasure-hash-key"

PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "secret",
        "password",
        "token",
        "todo",
        "xxx",
        DEV_WEBHOOK_SECRET,
        DEV_ADMIN_TOKEN,
        DEV_ERASURE_HASH_KEY,
    }
)


def is_placeholder(value: str) -> bool:
    v = value.strip().lower()
    return v in PLACEHOLDER_SECRETS or v.startswith("changeme") or v.startswith("<")


class KafkaSettings(BaseSettings):
    """How to reach Kafka and how its topics are created: every service, and the command line
    (``leadflow create-topics``, ``leadflow dlq``), which needs nothing else."""

    model_config = SettingsConfigDict(
        env_prefix="LEADFLOW_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # TLS and SASL, for every producer, consumer and admin client (shared/kafka/security.py)
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None  # else the system's trusted CAs
    kafka_ssl_certfile: str | None = None  # a client certificate (mutual TLS), with its key
    kafka_ssl_keyfile: str | None = None
    kafka_ssl_key_password: SecretStr | None = None
    kafka_ssl_check_hostname: bool = True
    # create-topics: unset, the policy follows the broker count (shared/kafka/topics.py)
    kafka_replication_factor: int | None = Field(None, ge=1)
    kafka_min_insync_replicas: int | None = Field(None, ge=1)
    # how long dead letters are kept (retention.ms of every <topic>.dlq)
    kafka_dlq_retention_days: int = Field(DLQ_RETENTION_DAYS, ge=1)

    @model_validator(mode="after")
    def _check_kafka_security(self) -> KafkaSettings:
        problems = security_problems(self.kafka())
        if self.kafka_sasl_password is not None and is_placeholder(
            self.kafka_sasl_password.get_secret_value()
        ):
            problems.append("LEADFLOW_KAFKA_SASL_PASSWORD is a placeholder; set the real password")
        if problems:
            raise ValueError("Kafka settings: " + "; ".join(problems))
        return self

    def kafka(self) -> KafkaConnection:
        """What every Kafka client of this process is built from."""
        return KafkaConnection(
            bootstrap_servers=self.kafka_bootstrap_servers,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=_secret(self.kafka_sasl_password),
            ssl_cafile=self.kafka_ssl_cafile,
            ssl_certfile=self.kafka_ssl_certfile,
            ssl_keyfile=self.kafka_ssl_keyfile,
            ssl_key_password=_secret(self.kafka_ssl_key_password),
            ssl_check_hostname=self.kafka_ssl_check_hostname,
        )


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


class CommonSettings(KafkaSettings):
    model_config = SettingsConfigDict(
        env_prefix="LEADFLOW_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    env: Literal["dev", "test", "production"] = "production"
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"

    database_url: str | None = None
    # Prepended to every topic name; lets tests (or several stacks on one cluster) isolate.
    topic_prefix: str = ""
    # Processed event ids (the consumers' dedupe memory) are kept this long, then pruned; no
    # shorter than dead letters are kept, so a replayed one that was processed is recognised.
    processed_event_retention_days: int = Field(30, ge=1)
    # disqualification reasons and what each does: read by ingest and the router alike
    dispositions_file: Path = DEFAULT_DISPOSITIONS_FILE

    # Dev-only conveniences; ignored outside dev.
    dev_webhook_secret: SecretStr = SecretStr(DEV_WEBHOOK_SECRET)
    dev_admin_token: SecretStr = SecretStr(DEV_ADMIN_TOKEN)
    # Admin credentials (shared/credentials.py). The tokens file (named tokens with scopes, kept
    # as SHA-256 hashes; re-read when it changes) is the way outside dev; the single
    # LEADFLOW_ADMIN_TOKEN still works as a token named "admin" with every scope (deprecated).
    admin_token: SecretStr | None = None
    admin_tokens_file: Path | None = None
    # the HMAC key of erased people's hashed identities (shared/domain/erasure.py)
    erasure_hash_key: SecretStr | None = None
    dev_erasure_hash_key: SecretStr = SecretStr(DEV_ERASURE_HASH_KEY)

    @property
    def is_dev(self) -> bool:
        return self.env in ("dev", "test")

    @model_validator(mode="after")
    def _check_retention(self) -> CommonSettings:
        if self.processed_event_retention_days < self.kafka_dlq_retention_days:
            raise ValueError(
                f"LEADFLOW_PROCESSED_EVENT_RETENTION_DAYS ({self.processed_event_retention_days}) "
                f"is shorter than LEADFLOW_KAFKA_DLQ_RETENTION_DAYS ({self.kafka_dlq_retention_days}): "
                "processed event ids must be kept at least as long as dead letters, or a replayed "
                "dead letter that was processed already takes effect twice"
            )
        return self

    @model_validator(mode="after")
    def _check_secrets(self) -> CommonSettings:
        if self.is_dev:
            return self
        if self.database_url is None:
            raise ValueError("LEADFLOW_DATABASE_URL is required outside dev")
        if self.admin_token is None and self.admin_tokens_file is None:
            raise ValueError(
                "LEADFLOW_ADMIN_TOKENS_FILE (or the deprecated LEADFLOW_ADMIN_TOKEN) is required"
                " outside dev"
            )
        if self.admin_token is not None and is_placeholder(self.admin_token.get_secret_value()):
            raise ValueError("LEADFLOW_ADMIN_TOKEN is a placeholder; set a real secret")
        if self.erasure_hash_key is None:
            raise ValueError("LEADFLOW_ERASURE_HASH_KEY is required outside dev")
        if is_placeholder(self.erasure_hash_key.get_secret_value()):
            raise ValueError("LEADFLOW_ERASURE_HASH_KEY is a placeholder; set a real secret")
        return self

    def effective_erasure_hash_key(self) -> bytes:
        if self.erasure_hash_key is not None:
            return self.erasure_hash_key.get_secret_value().encode()
        if self.is_dev:
            return self.dev_erasure_hash_key.get_secret_value().encode()
        raise RuntimeError("no erasure hash key configured")  # unreachable: validator guards it

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError(
                "LEADFLOW_DATABASE_URL is not set (run `leadflow stack up` for a local one)"
            )
        return self.database_url
