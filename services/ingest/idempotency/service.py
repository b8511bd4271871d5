"""Answer once: a request re-sent with the same key gets the first answer, and its events are
published once in effect.

A valid keyed request runs in one PostgreSQL transaction: the key's row is inserted with the
answer already in it (ids and times are fixed before publishing), the events are published
and acknowledged by Kafka (acks=all), then the transaction commits. So:

- an identical re-send finds the committed row and gets the stored answer, with
  ``Idempotent-Replayed: true``;
- a twin arriving while the first is in flight waits for its row lock, briefly
  (``IN_FLIGHT_WAIT``), and gets the stored answer, or 409 with ``Retry-After``;
- if Kafka fails the transaction rolls back: 503, nothing stored, the retry starts over;
- if the process dies mid-request PostgreSQL rolls the claim back with the connection; the
  retry publishes again with the *same* event ids, which consumers dedupe on.

A keyed request refused for what its body says (422) stores the refusal, so its re-send gets
the same answer even if the rules change in between; a refusal of how the body was sent (415,
not JSON) is not stored. Keyless requests never touch the database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest import metrics
from services.ingest.context import IngestContext
from services.ingest.idempotency.repository import (
    Claimed,
    IdempotencyRepository,
    InFlight,
    Stored,
)
from services.ingest.sources.auth import Authenticated
from shared.http import ApiError, problem_body
from shared.kafka.producer import EventProducer, KafkaUnavailable, Message
from shared.logging import get_logger

log = get_logger(__name__)

# How long a twin waits for the first request's transaction before answering 409.
IN_FLIGHT_WAIT_MS = 250


def request_db_settings(publish_timeout_seconds: float) -> dict[str, str]:
    """The PostgreSQL settings of the request path's connections.

    - A twin waits ``IN_FLIGHT_WAIT_MS`` for the first request's row (lock_timeout).
    - A key's row need not be on disk before the answer: the lead's durability is Kafka's
      (acks=all). A database crash may forget the last fraction of a second of rows; their
      re-sends publish again with the same event ids, which consumers dedupe on. So commits
      do not wait for the WAL flush.
    - A transaction idle for longer than a publish can take is one whose process or host is
      gone: the server ends it, so its key is not held (its twins answered 409) for as long
      as TCP takes to notice; keepalives notice a lost host within about 30 s.
    """
    idle_ms = int(max(15.0, 3 * publish_timeout_seconds) * 1000)
    return {
        "lock_timeout": str(IN_FLIGHT_WAIT_MS),
        "synchronous_commit": "off",
        "idle_in_transaction_session_timeout": str(idle_ms),
        "tcp_keepalives_idle": "10",
        "tcp_keepalives_interval": "5",
        "tcp_keepalives_count": "3",
    }


REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class Acceptance:
    """The answer to a valid request, given once ``messages`` are durable in Kafka."""

    status: int
    body: dict[str, Any]
    messages: Sequence[Message]


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    replayed: bool

    @property
    def headers(self) -> dict[str, str]:
        return {REPLAYED_HEADER: "true"} if self.replayed else {}


class ReplayedRefusal(ApiError):
    """The stored refusal of the first request with this key, answered again."""


@dataclass(frozen=True)
class RequestKey:
    """Where a keyed request's answer lives, and what it is compared on."""

    source_id: str
    key: str
    request_hash: bytes
    webhook_timestamp: int | None

    @property
    def id_seed(self) -> str:
        """What the request's lead and event ids derive from: the key and the body, so a
        re-send has the same ids, and another body under a key whose row is gone (expired,
        or never committed) does not pass for the first one in the consumers' dedupe."""
        return f"{self.key}\x1f{self.request_hash.hex()}"


def request_key(auth: Authenticated) -> RequestKey | None:
    if auth.idempotency_key is None:
        return None
    return RequestKey(
        source_id=auth.source.id,
        key=auth.idempotency_key,
        request_hash=auth.request_hash,
        webhook_timestamp=auth.signed.timestamp if auth.signed else None,
    )


async def accept_once(
    ctx: IngestContext,
    auth: Authenticated,
    now: datetime,
    acceptance: Callable[[str | None], Acceptance],
) -> Outcome:
    """Publish ``acceptance(seed).messages`` at most once in effect per (source, key); the
    ids in them derive from ``seed`` (:attr:`RequestKey.id_seed`, None without a key)."""
    with _counting_replays(auth):
        outcome = await _accept_once(
            ctx.request_engine,
            ctx.producer,
            request_key(auth),
            now=now,
            ttl_expires=now + ctx.ttl,
            retry_after=ctx.settings.ingest_retry_after_seconds,
            acceptance=acceptance,
        )
    if outcome.replayed:
        metrics.IDEMPOTENT_REPLAYS.labels(auth.source.kind).inc()
    return outcome


async def refuse_once(
    ctx: IngestContext, auth: Authenticated, now: datetime, error: ApiError
) -> Outcome:
    """Store ``error`` as the answer to this key and raise it; or answer what is stored.

    Returns only when the key already holds a success (the first request was accepted)."""
    key = request_key(auth)
    if key is None or not _storable(error):
        raise error
    answer = problem_body(error.status, error.code, error.detail, error.errors)
    stored = await _claim_or_stored(
        ctx.request_engine,
        key,
        now=now,
        ttl_expires=now + ctx.ttl,
        retry_after=ctx.settings.ingest_retry_after_seconds,
        status=error.status,
        body=answer,
        publish=None,
    )
    if stored is None:
        raise error
    with _counting_replays(auth):
        outcome = _replay(stored)
    metrics.IDEMPOTENT_REPLAYS.labels(auth.source.kind).inc()  # the first was accepted
    return outcome


@contextlib.contextmanager
def _counting_replays(auth: Authenticated) -> Iterator[None]:
    """Count a stored refusal answered again (raised as :class:`ReplayedRefusal`)."""
    try:
        yield
    except ReplayedRefusal:
        metrics.IDEMPOTENT_REPLAYS.labels(auth.source.kind).inc()
        raise


async def _accept_once(
    engine: AsyncEngine,
    producer: EventProducer,
    key: RequestKey | None,
    *,
    now: datetime,
    ttl_expires: datetime,
    retry_after: int,
    acceptance: Callable[[str | None], Acceptance],
) -> Outcome:
    answer = acceptance(key.id_seed if key else None)
    if key is None:
        await _publish_or_503(producer, answer.messages, retry_after)
        return Outcome(answer.status, answer.body, replayed=False)
    try:  # a Kafka that is down is answered before a database connection is taken
        await producer.connect()
    except KafkaUnavailable:
        raise _kafka_unavailable(retry_after) from None
    stored = await _claim_or_stored(
        engine,
        key,
        now=now,
        ttl_expires=ttl_expires,
        retry_after=retry_after,
        status=answer.status,
        body=answer.body,
        publish=lambda: _publish_or_503(producer, answer.messages, retry_after),
    )
    if stored is None:
        return Outcome(answer.status, answer.body, replayed=False)
    return _replay(stored)


# The connection itself is gone (a database restart, a cut network): another one may work.
_CUT = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    OSError,
)


async def _claim_or_stored(
    engine: AsyncEngine,
    key: RequestKey,
    *,
    now: datetime,
    ttl_expires: datetime,
    retry_after: int,
    status: int,
    body: dict[str, Any],
    publish: Callable[[], Awaitable[None]] | None,
) -> Stored | None:
    """Claim the key with this answer (running ``publish`` inside the claim): None when this
    request's answer stands, else the stored answer of an identical request.

    Once ``publish`` has returned the events are durable, so this request's answer stands
    whatever happens to the transaction after it: if the commit fails the key is not stored,
    and a re-send publishes again with the same event ids, which consumers dedupe on."""
    size = engine.pool.size() if hasattr(engine.pool, "size") else 1
    for _ in range(size + 1):  # each pooled connection a restart cut fails once
        published = False
        try:
            async with engine.connect() as pooled:
                raw = await pooled.get_raw_connection()
                conn = raw.driver_connection
                try:
                    async with conn.transaction():
                        claim = await IdempotencyRepository(conn).claim(
                            key.source_id,
                            key.key,
                            key.request_hash,
                            now=now,
                            expires_at=ttl_expires,
                            webhook_timestamp=key.webhook_timestamp,
                            status=status,
                            body=body,
                        )
                        match claim:
                            case Claimed():
                                if publish is not None:
                                    await publish()
                                    published = True
                                return None  # committed on leaving the block
                            case Stored() if claim.request_hash != key.request_hash:
                                raise _key_reused()
                            case Stored():
                                return claim
                            case InFlight():
                                raise _in_flight()
                except asyncpg.LockNotAvailableError:
                    raise _in_flight() from None
                except _CUT:
                    await pooled.invalidate()  # closed, not given back to the pool
                    raise
        except _CUT as exc:
            if published:
                log.warning("ingest.idempotency_commit_failed", error=repr(exc))
                return None
            if _connecting(exc):
                log.warning("ingest.idempotency_store_failed", error=repr(exc))
                raise _database_unavailable(retry_after) from None
            continue  # a stale pooled connection: the next one
        except SATimeoutError:  # every pooled connection busy for pool_timeout
            raise _database_unavailable(retry_after) from None
        except (asyncpg.PostgresError, DBAPIError) as exc:
            if published:
                log.warning("ingest.idempotency_commit_failed", error=repr(exc))
                return None
            log.warning("ingest.idempotency_store_failed", error=repr(exc))
            raise _database_unavailable(retry_after) from None
    raise _database_unavailable(retry_after)


def _connecting(exc: BaseException) -> bool:
    """True when no connection could be opened at all (the database is down), as opposed to
    a pooled one that turned out to be stale."""
    return isinstance(exc, (ConnectionRefusedError, TimeoutError, asyncpg.CannotConnectNowError))


# Refusals of how the body was sent rather than of what it says: a re-send that fixes its
# Content-Type with the same body and key is judged afresh, not answered from the store.
_FRAMING = frozenset({"json_invalid", "json_type", "media_type", "encoding"})


def _storable(error: ApiError) -> bool:
    return error.status == 422 and not any(e.get("type") in _FRAMING for e in error.errors)


def _replay(stored: Stored) -> Outcome:
    if stored.status < 400:
        return Outcome(stored.status, stored.body, replayed=True)
    raise ReplayedRefusal(
        stored.status,
        str(stored.body.get("code", "refused")),
        str(stored.body.get("detail", "")),
        errors=stored.body.get("errors") or (),
        headers={REPLAYED_HEADER: "true"},
    )


async def _publish_or_503(
    producer: EventProducer, messages: Sequence[Message], retry_after: int
) -> None:
    try:
        await producer.publish_many(messages)
    except KafkaUnavailable:
        raise _kafka_unavailable(retry_after) from None


def _key_reused() -> ApiError:
    return ApiError(
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


def _in_flight() -> ApiError:
    return ApiError(
        409,
        "request_in_progress",
        "a request with this idempotency key is being processed; retry shortly",
        headers={"Retry-After": "1"},
    )


def _kafka_unavailable(retry_after: int) -> ApiError:
    return ApiError(
        503,
        "kafka_unavailable",
        "the lead could not be stored durably right now; nothing was accepted, retry later",
        headers={"Retry-After": str(retry_after)},
    )


def _database_unavailable(retry_after: int) -> ApiError:
    return ApiError(
        503,
        "database_unavailable",
        "the request could not be recorded right now; nothing was accepted, retry later",
        headers={"Retry-After": str(retry_after)},
    )
