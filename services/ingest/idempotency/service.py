"""Publish-once: a retried request returns the first response and publishes nothing new.

Steps: claim the key (committed, so a concurrent twin sees it), publish and wait for
acks=all, store the response (committed). If Kafka fails the claim is released and the
client gets 503, so its retry starts over. If the process dies between publish and
store, the claim's lock expires and the retry publishes again with the *same* event ids,
which consumers dedupe on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest.context import IngestContext
from services.ingest.idempotency.repository import (
    Claimed,
    Done,
    IdempotencyRepository,
    InFlight,
    Mismatch,
)
from services.ingest.sources.auth import Authenticated
from shared.http import ApiError
from shared.kafka.producer import KafkaUnavailable

LOCK_FOR = timedelta(seconds=30)


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    replayed: bool


class Replayed(ApiError):
    def __init__(self) -> None:
        super().__init__(
            401, "replayed", "this signed request was already accepted; a retry must be signed anew"
        )


async def publish_once(
    sessions: async_sessionmaker[AsyncSession],
    *,
    source_id: str,
    key: str | None,
    request_hash: bytes,
    webhook_timestamp: int | None,
    now: datetime,
    ttl: timedelta,
    retry_after: int,
    publish: Callable[[str | None], Awaitable[tuple[int, dict[str, Any]]]],
) -> Outcome:
    """Run ``publish(key)`` at most once in effect per (source, key)."""
    if key is None:
        status, body = await _publish_or_503(publish, None, retry_after)
        return Outcome(status, body, replayed=False)

    async with sessions.begin() as session:
        claim = await IdempotencyRepository(session).claim(
            source_id, key, request_hash, now=now, lock_for=LOCK_FOR, ttl=ttl
        )
    match claim:
        case Done(status=status, body=body, webhook_timestamp=ts):
            if webhook_timestamp is not None and ts == webhook_timestamp:
                raise Replayed()
            return Outcome(status, body, replayed=True)
        case Mismatch():
            raise ApiError(
                422,
                "idempotency_key_reused",
                "this idempotency key was used with a different request body",
                errors=[
                    {
                        "field": "Idempotency-Key",
                        "message": "already used for another body",
                        "type": "conflict",
                    }
                ],
            )
        case InFlight():
            raise ApiError(
                409,
                "request_in_progress",
                "a request with this idempotency key is being processed; retry shortly",
                headers={"Retry-After": "1"},
            )
        case Claimed():
            pass

    try:
        status, body = await _publish_or_503(publish, key, retry_after)
    except BaseException:
        async with sessions.begin() as session:
            await IdempotencyRepository(session).release(source_id, key)
        raise
    async with sessions.begin() as session:
        await IdempotencyRepository(session).complete(
            source_id, key, status=status, body=body, webhook_timestamp=webhook_timestamp
        )
    return Outcome(status, body, replayed=False)


async def _publish_or_503(
    publish: Callable[[str | None], Awaitable[tuple[int, dict[str, Any]]]],
    key: str | None,
    retry_after: int,
) -> tuple[int, dict[str, Any]]:
    try:
        return await publish(key)
    except KafkaUnavailable:
        raise ApiError(
            503,
            "kafka_unavailable",
            "the lead could not be stored durably right now; nothing was accepted, retry later",
            headers={"Retry-After": str(retry_after)},
        ) from None


async def publish_request_once(
    ctx: IngestContext,
    auth: Authenticated,
    now: datetime,
    publish: Callable[[str | None], Awaitable[tuple[int, dict[str, Any]]]],
) -> Outcome:
    """:func:`publish_once` for an authenticated request: its source, key, body and signature."""
    return await publish_once(
        ctx.sessions,
        source_id=auth.source.id,
        key=auth.idempotency_key,
        request_hash=auth.request_hash,
        webhook_timestamp=auth.signed.timestamp if auth.signed else None,
        now=now,
        ttl=ctx.ttl,
        retry_after=ctx.settings.ingest_retry_after_seconds,
        publish=publish,
    )
