from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.delivery.domain.safety import AddressPolicy
from shared.settings import CommonSettings

LEASE_MARGIN_SECONDS = 5.0


class DeliverySettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", extra="ignore", frozen=True)

    delivery_host: str = "127.0.0.1"
    delivery_port: int = 8003
    delivery_consumer_group: str = "leadflow-delivery"
    delivery_tick_seconds: float = 1.0  # how often due deliveries are looked for
    delivery_batch_size: int = Field(100, ge=1)  # due deliveries claimed per transaction
    delivery_concurrency: int = Field(16, ge=1)  # requests in flight
    delivery_timeout_seconds: float = Field(15.0, gt=0)  # a 2xx within this is a success
    # a claimed delivery not finished by then is attempted again (a crash mid-send)
    delivery_lease_seconds: float = Field(60.0, gt=0)
    delivery_response_excerpt_bytes: int = Field(1024, ge=0)  # of the response, stored
    delivery_response_read_bytes: int = Field(65536, ge=0)  # of the response, read at most
    delivery_event_retention_days: int = Field(30, ge=1)  # stored events, for replay
    delivery_replay_max_events: int = Field(10_000, ge=1)  # queued by one replay at most
    delivery_disable_after_days: float = Field(5, gt=0)  # failing everything that long: disabled
    # loopback, private, link-local ... addresses as destinations: unset, allowed only in dev/test
    delivery_allow_private_networks: bool | None = None
    delivery_allowed_networks: list[IPv4Network | IPv6Network] = Field(
        default_factory=list
    )  # always allowed
    delivery_allowed_hosts: list[str] = Field(default_factory=list)  # always allowed
    # unset: https only outside dev/test
    delivery_require_https: bool | None = None
    delivery_dlq_watch_seconds: float = 30.0  # how often leadflow_dlq_messages is refreshed
    # how often the backlog and endpoint gauges are refreshed from the database
    delivery_gauge_seconds: float = Field(15.0, gt=0)

    @model_validator(mode="after")
    def _check_read_bytes(self) -> DeliverySettings:
        if self.delivery_response_read_bytes < self.delivery_response_excerpt_bytes:
            raise ValueError(
                "LEADFLOW_DELIVERY_RESPONSE_READ_BYTES is smaller than "
                "LEADFLOW_DELIVERY_RESPONSE_EXCERPT_BYTES"
            )
        return self

    @model_validator(mode="after")
    def _check_lease(self) -> DeliverySettings:
        # a claimed delivery must finish (send, then record) well within its lease, or it
        # could be claimed and sent again while its first request is still in flight
        if self.delivery_lease_seconds < 2 * self.delivery_timeout_seconds + LEASE_MARGIN_SECONDS:
            raise ValueError(
                "LEADFLOW_DELIVERY_LEASE_SECONDS must be at least twice "
                f"LEADFLOW_DELIVERY_TIMEOUT_SECONDS plus {LEASE_MARGIN_SECONDS:g} s"
            )
        return self

    @property
    def allow_private_networks(self) -> bool:
        if self.delivery_allow_private_networks is None:
            return self.is_dev
        return self.delivery_allow_private_networks

    @property
    def require_https(self) -> bool:
        if self.delivery_require_https is None:
            return not self.is_dev
        return self.delivery_require_https

    def address_policy(self) -> AddressPolicy:
        return AddressPolicy(
            require_https=self.require_https,
            allow_private=self.allow_private_networks,
            allowed_networks=tuple(self.delivery_allowed_networks),
            allowed_hosts=frozenset(self.delivery_allowed_hosts),
        )
