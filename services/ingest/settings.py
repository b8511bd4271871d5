from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings

DEFAULT_SOURCES_FILE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "sources.yaml"


class IngestSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", extra="ignore", frozen=True)

    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8000
    ingest_sources_file: Path = DEFAULT_SOURCES_FILE
    # Web leads and activities; trade-show files have their own, larger limit.
    ingest_max_body_bytes: int = 64 * 1024
    ingest_import_max_bytes: int = 20 * 1024 * 1024
    ingest_import_max_rows: int = 50_000
    ingest_publish_timeout_seconds: float = 5.0
    ingest_idempotency_ttl_hours: int = 24
    ingest_signature_tolerance_seconds: int = 300
    # Answer to a client told to come back later (Kafka down, request in flight).
    ingest_retry_after_seconds: int = 5
    # Behind a load balancer, trust X-Forwarded-For for the client address (rate limits).
    ingest_trust_forwarded_for: bool = False
