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
    # Processed event ids (the consumers' dedupe memory) are kept this long, then pruned.
    processed_event_retention_days: int = Field(14, ge=1)
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

    @property
    def is_dev(self) -> bool:
        return self.env in ("dev", "test")

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
        return self

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError(
                "LEADFLOW_DATABASE_URL is not set (run `leadflow stack up` for a local one)"
            )
        return self.database_url
