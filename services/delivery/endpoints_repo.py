"""Endpoints and their secrets in the database (the admin API's storage)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery.domain import signing
from services.delivery.models import Endpoint, EndpointSecret


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: Endpoint
    secret: str


async def create_endpoint(
    session: AsyncSession,
    url: str,
    event_types: Sequence[str],
    now: datetime,
    *,
    description: str = "",
    enabled: bool = True,
    secret: str | None = None,
) -> CreatedEndpoint:
    """A new endpoint with a fresh current secret. The caller validated ``url`` and
    ``event_types`` (a non-empty subset of the deliverable types)."""
    secret = secret or signing.new_secret()
    signing.secret_bytes(secret)  # ValueError for a malformed one
    endpoint = Endpoint(
        id=uuid.uuid4(), url=url, description=description, event_types=list(event_types),
        enabled=enabled, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(endpoint)
    await session.flush()
    session.add(
        EndpointSecret(
            id=uuid.uuid4(), endpoint_id=endpoint.id, secret=secret, created_at=now, expires_at=None
        )
    )
    await session.flush()
    return CreatedEndpoint(endpoint, secret)
