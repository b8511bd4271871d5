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


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", extra="ignore", frozen=True)

    env: Literal["dev", "test", "production"] = "production"
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"

    database_url: str | None = None
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Prepended to every topic name; lets tests (or several stacks on one cluster) isolate.
    topic_prefix: str = ""
    # Processed event ids (the consumers' dedupe memory) are kept this long, then pruned;
    # dead letters are kept as long (shared/kafka/topics.py), so a replay is always recognised.
    processed_event_retention_days: int = Field(30, ge=1)
    # disqualification reasons and what each does: read by ingest and the router alike
    dispositions_file: Path = DEFAULT_DISPOSITIONS_FILE

    # Dev-only conveniences; ignored outside dev.
    dev_webhook_secret: SecretStr = SecretStr(DEV_WEBHOOK_SECRET)
    dev_admin_token: SecretStr = SecretStr(DEV_ADMIN_TOKEN)
    admin_token: SecretStr | None = None
    # the HMAC key of erased people's hashed identities (shared/domain/erasure.py)
    erasure_hash_key: SecretStr | None = None
    dev_erasure_hash_key: SecretStr = SecretStr(DEV_ERASURE_HASH_KEY)

    @property
    def is_dev(self) -> bool:
        return self.env in ("dev", "test")

    @model_validator(mode="after")
    def _check_secrets(self) -> CommonSettings:
        if self.is_dev:
            return self
        if self.database_url is None:
            raise ValueError("LEADFLOW_DATABASE_URL is required outside dev")
        if self.admin_token is None:
            raise ValueError("LEADFLOW_ADMIN_TOKEN is required outside dev")
        if is_placeholder(self.admin_token.get_secret_value()):
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

    def effective_admin_token(self) -> str:
        if self.admin_token is not None:
            return self.admin_token.get_secret_value()
        if self.is_dev:
            return self.dev_admin_token.get_secret_value()
        raise RuntimeError("no admin token configured")  # unreachable: validator guards it

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError(
                "LEADFLOW_DATABASE_URL is not set (run `leadflow stack up` for a local one)"
            )
        return self.database_url
