from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.ingest.domain.forwarded import parse_trusted_proxies
from shared.settings import CommonSettings

DEFAULT_SOURCES_FILE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "sources.yaml"


class IngestSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", extra="ignore", frozen=True)

    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8000
    ingest_sources_file: Path = DEFAULT_SOURCES_FILE
    # Web leads and activities; import files (trade shows, lists) have their own, larger limit.
    ingest_max_body_bytes: int = 64 * 1024
    ingest_import_max_bytes: int = Field(256 * 1024 * 1024, ge=1024)
    ingest_import_max_rows: int = Field(1_000_000, ge=1)
    # Import jobs: rows per stored chunk, which is also one published batch and one progress
    # step (a restart re-publishes at most one); jobs one process works at a time; how often
    # an idle worker looks for queued jobs; how long a worker's claim holds without renewal
    # (each batch renews it; a dead worker's job is taken over once it runs out); an optional
    # cap on rows published per second per job (0: none), so bulk never crowds out web leads.
    ingest_import_batch_rows: int = Field(1000, ge=1, le=10_000)
    ingest_import_workers: int = Field(1, ge=0)
    ingest_import_poll_seconds: float = Field(1.0, gt=0)
    ingest_import_lease_seconds: float = Field(30.0, gt=0)
    ingest_import_max_rows_per_second: float = Field(0, ge=0)
    ingest_publish_timeout_seconds: float = 5.0
    # the consumer group of ingest's leads.erasure.v1 consumer (default: leadflow-ingest,
    # after the topic prefix)
    ingest_consumer_group: str | None = None
    # PostgreSQL connections for keyed requests, each held while its events are published
    # (a few ms): requests beyond it wait for one.
    ingest_db_pool_size: int = Field(20, ge=1)
    ingest_db_pool_timeout_seconds: float = Field(2.0, gt=0)
    ingest_idempotency_ttl_hours: int = 24
    ingest_signature_tolerance_seconds: int = 300
    # Answer to a client told to come back later (Kafka down, request in flight).
    ingest_retry_after_seconds: int = 5
    # The proxies in front of ingest (a load balancer, an ingress) whose X-Forwarded-For is
    # believed: comma-separated addresses or networks (``10.0.0.0/8``), handed to uvicorn's
    # proxy-header middleware. A request from any other peer is keyed on its TCP address,
    # whatever headers it sends. Empty: no proxy is trusted.
    ingest_forwarded_allow_ips: str = ""
    # Earlier forms (a hop count, or trusting any sender): refused with a pointer to the above.
    ingest_forwarded_for_hops: int | None = None
    ingest_trust_forwarded_for: bool | None = None

    @field_validator("ingest_forwarded_allow_ips")
    @classmethod
    def _check_forwarded_allow_ips(cls, value: str) -> str:
        return ",".join(parse_trusted_proxies(value))

    @model_validator(mode="after")
    def _refuse_forwarded_hops(self) -> IngestSettings:
        for name in ("ingest_forwarded_for_hops", "ingest_trust_forwarded_for"):
            if getattr(self, name) is not None:
                raise ValueError(
                    f"LEADFLOW_{name.upper()} is no longer read: list the proxies in front of "
                    "ingest in LEADFLOW_INGEST_FORWARDED_ALLOW_IPS (addresses or networks)"
                )
        return self

    @property
    def erasure_consumer_group(self) -> str:
        return self.ingest_consumer_group or f"{self.topic_prefix}leadflow-ingest"
