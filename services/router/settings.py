from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.settings import CommonSettings

CONFIG_DIR = Path(__file__).resolve().parents[2] / "deploy" / "config"
_CUSTOM_FIELD = re.compile(r"^[A-Za-z0-9_]{1,64}$")


class RouterSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", extra="ignore", frozen=True)

    router_host: str = "127.0.0.1"
    router_port: int = 8001
    router_consumer_group: str = "leadflow-router"
    # the bulk lane (leads.bulk.v1) has a consumer group of its own; default: "<group>-bulk"
    router_bulk_consumer_group: str | None = None
    # most arrivals decided in one transaction. Real-time batches are whatever has arrived
    # (one lead when the lane is quiet); bulk batches are smaller, because a web lead that
    # arrives while one is in hand waits for it to commit (~0.2 s at 1,000 leads/s).
    router_batch_max: int = 500
    router_bulk_batch_max: int = 200
    # teams, reps and routing rules: seeded into the database, then managed by the admin API
    router_routing_file: Path = CONFIG_DIR / "routing.yaml"
    # scoring rules: read from the file, reloaded when it changes
    router_scoring_file: Path = CONFIG_DIR / "scoring.yaml"
    router_scoring_reload_seconds: float = 5.0
    router_sla_tick_seconds: float = 0.5
    router_queue_drain_seconds: float = 10.0
    # how often leadflow_dlq_messages (dead letters awaiting replay) is refreshed
    router_dlq_watch_seconds: float = 30.0
    router_max_escalations: int = 2
    # how often unworked leads are recycled and the leads of departed reps released
    router_lifecycle_sweep_seconds: float = 60.0
    # dedupe (services/router/domain/dedupe.py): confidence at which a submission merges into
    # a known lead, and from which a doubtful one goes to the review list instead of being new
    router_match_merge_at: float = 0.9
    router_match_review_at: float = 0.6
    # a phone or address held by this many different leads is shared: no longer a match key
    router_match_shared_after: int = 3
    # rapidfuzz ratios: a typo'd full name, the same company name, a similar company name
    router_match_name_threshold: float = 88.0
    router_match_company_threshold: float = 90.0
    router_match_company_near: float = 80.0
    # custom form fields (lead.profile.custom.<key>) the reactivation segments may group and
    # filter by, comma-separated: interest a form asks for, not free text
    router_segment_custom_fields: Annotated[tuple[str, ...], NoDecode] = ("product_interest",)

    @field_validator("router_segment_custom_fields", mode="before")
    @classmethod
    def _split_custom_fields(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("router_segment_custom_fields")
    @classmethod
    def _check_custom_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for key in value:
            if not _CUSTOM_FIELD.match(key):
                raise ValueError(
                    f"custom field {key!r}: letters, digits and underscores only, 1-64 characters"
                )
        return tuple(dict.fromkeys(value))

    @property
    def bulk_consumer_group(self) -> str:
        return self.router_bulk_consumer_group or f"{self.router_consumer_group}-bulk"
