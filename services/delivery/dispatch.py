"""Sending due deliveries: claim a batch (a short transaction, a lease per delivery), send
them concurrently, record each result in a transaction of its own.

A claimed delivery carries a lease (``delivery_lease_seconds``): a process that dies while
sending leaves it pending with the lease running out, and it is attempted again then, with
the same ``webhook-id`` (the event id) so the receiver can dedupe.

Before each attempt the host is resolved and its addresses judged by
``domain.safety.address_problem``; the request then goes to the address that was checked
(the URL's host rewritten to it, the ``Host`` header and the TLS server name kept), so a
DNS answer that changes between the check and the connect cannot redirect it."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from ipaddress import ip_address
from typing import Any, Literal, cast
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery import metrics
from services.delivery.context import DeliveryContext
from services.delivery.domain import signing
from services.delivery.domain.outcome import AttemptDecision, Response, classify, decide
from services.delivery.domain.safety import AddressPolicy, address_problem, url_problem
from services.delivery.domain.schedule import parse_retry_after
from services.delivery.models import Outbox
from services.delivery.settings import DeliverySettings
from shared.events.envelope import make_event
from shared.events.models import EndpointDisabled
from shared.events.registry import DELIVERY_ENDPOINT_DISABLED
from shared.logging import get_logger
from shared.metrics import on_commit
from shared.outbox import enqueue

log = get_logger(__name__)
SOURCE = "/leadflow/delivery"
USER_AGENT = "leadflow-delivery/1"
DisableReason = Literal["gone", "failing", "operator"]

_CLAIM = text(
    "WITH due AS MATERIALIZED ("
    " SELECT d2.id FROM delivery.delivery d2 JOIN delivery.endpoint e2 ON e2.id = d2.endpoint_id"
    " WHERE d2.state = 'pending' AND d2.next_attempt_at <= :now"
    " AND (d2.leased_until IS NULL OR d2.leased_until <= :now) AND e2.enabled"
    # due first; at equal due time live before replayed; then in the order queued
    " ORDER BY d2.next_attempt_at, (d2.origin <> 'live'), d2.id"
    " LIMIT :limit FOR UPDATE OF d2 SKIP LOCKED) "
    "UPDATE delivery.delivery d SET leased_until = :lease, lease_token = :token "
    "FROM due, delivery.event ev, delivery.endpoint e "
    "WHERE d.id = due.id AND ev.id = d.event_id AND e.id = d.endpoint_id AND e.enabled "
    "RETURNING d.id, d.endpoint_id, d.event_id, d.attempts, ev.type, ev.payload, e.url"
)
_SECRETS = text(
    "SELECT endpoint_id, secret, expires_at FROM delivery.endpoint_secret "
    "WHERE endpoint_id = ANY(:ids) AND (expires_at IS NULL OR expires_at > :now)"
)


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    endpoint_id: uuid.UUID
    event_id: str
    event_type: str
    attempts: int  # made before this one
    payload: dict[str, Any]
    url: str
    secrets: tuple[str, ...]
    # the claim holding the lease: an answer is recorded only under the lease it was sent
    # with (None: a delivery never claimed, such as a test-send)
    lease_token: uuid.UUID | None = None
    leased_until: datetime | None = None


@dataclass(frozen=True)
class Sent:
    """What one attempt got: the domain's response, and what is stored of it."""

    response: Response
    started_at: datetime
    excerpt: str | None = None
    error: str | None = None  # exception class and a short reason; no personal data


def claim_limit(settings: DeliverySettings) -> int:
    """Due deliveries claimed per round: no more than can be in flight at once, so each
    claimed one starts at once, well within its lease."""
    return min(settings.delivery_batch_size, settings.delivery_concurrency)


async def claim(ctx: DeliveryContext) -> list[Claimed]:
    s = ctx.settings
    now = ctx.clock()
    lease = now + timedelta(seconds=s.delivery_lease_seconds)
    token = uuid.uuid4()
    async with ctx.sessions.begin() as session:
        rows = (
            await session.execute(
                _CLAIM, {"lease": lease, "token": token, "now": now, "limit": claim_limit(s)}
            )
        ).all()
        if not rows:
            return []
        ids = list({r.endpoint_id for r in rows})
        secrets: dict[uuid.UUID, list[tuple[str, datetime | None]]] = {}
        for r in (await session.execute(_SECRETS, {"ids": ids, "now": now})).all():
            secrets.setdefault(r.endpoint_id, []).append((r.secret, r.expires_at))
    return [
        Claimed(
            r.id,
            r.endpoint_id,
            r.event_id,
            r.type,
            r.attempts,
            r.payload,
            r.url,
            tuple(signing.active_secrets(secrets.get(r.endpoint_id, []), now)),
            token,
            lease,
        )
        for r in rows
    ]


async def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (a literal address: itself)."""
    bare = host.removeprefix("[").removesuffix("]")
    try:
        return [str(ip_address(bare))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(
        bare, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def host_of(url: str) -> str:
    """The URL's host as sent: IDNA-encoded (ASCII), an IPv6 address without brackets."""
    return httpx.URL(url).raw_host.decode("ascii")


def pinned(url: str, address: str) -> tuple[str, str, str]:
    """The URL with its host replaced by ``address``; the Host header and TLS server name
    (both the IDNA form of the host)."""
    parts = urlsplit(url)
    host = host_of(url)
    netloc_host = f"[{address}]" if ":" in address else address
    netloc = netloc_host if parts.port is None else f"{netloc_host}:{parts.port}"
    header_host = f"[{host}]" if ":" in host else host
    host_header = header_host if parts.port is None else f"{header_host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc)), host_header, host


def excerpt(body: bytes, limit: int) -> str:
    """The first ``limit`` bytes as UTF-8 with replacement; NUL replaced too (PostgreSQL
    text cannot hold it)."""
    return body[:limit].decode("utf-8", errors="replace").replace("\x00", "\ufffd")


async def read_bounded(response: httpx.Response, limit: int) -> tuple[bytes, int]:
    """At most ``limit`` bytes of the body as sent (never decompressed: a small compressed
    answer may inflate without bound), and how many were read."""
    if response.is_stream_consumed:  # an in-memory response (tests' transports): read already
        return response.content[:limit], min(len(response.content), limit)
    chunks, size = [], 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk[: limit - size])
        size += len(chunks[-1])
        if size >= limit:
            break
    return b"".join(chunks), size


def _excerpt_of(response: httpx.Response, raw: bytes, size: int, limit: int) -> str:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):  # not decoded: an opaque note instead
        return f"<{encoding[:40]}-encoded body, {size} bytes read>"[:limit]
    return excerpt(raw, limit)


async def send(
    http: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    policy: AddressPolicy,
    timeout: float,  # noqa: ASYNC109 (one deadline around the resolve and the request)
    read_bytes: int,
    excerpt_bytes: int,
    now: datetime,
    resolver: Callable[[str, int], Awaitable[list[str]]] | None = None,
) -> Sent:
    """One POST of ``body`` to ``url``, after checking where it goes. Never raises for what
    the receiver or the network does: that is the attempt's outcome. ``timeout`` bounds the
    whole attempt (resolving, connecting, sending, reading)."""
    started = time.monotonic()

    def elapsed() -> timedelta:
        return timedelta(seconds=time.monotonic() - started)

    if problem := url_problem(url, policy):
        return Sent(
            Response(None, elapsed(), "refused_address"), now, error=f"url: {problem}"[:300]
        )
    try:
        async with asyncio.timeout(timeout):
            return await _send(
                http, url, body, headers, policy, read_bytes, excerpt_bytes, now, elapsed,
                resolver or resolve,
            )  # fmt: skip
    except TimeoutError:
        return Sent(Response(None, elapsed(), "timeout"), now, error="timeout")


async def _send(
    http: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    policy: AddressPolicy,
    read_bytes: int,
    excerpt_bytes: int,
    now: datetime,
    elapsed: Callable[[], timedelta],
    resolver: Callable[[str, int], Awaitable[list[str]]],
) -> Sent:
    parts = urlsplit(url)
    try:
        host = host_of(url)
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        return Sent(
            Response(None, elapsed(), "refused_address"), now, error=f"url: {type(exc).__name__}"
        )
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        addresses = await resolver(host, port)
    except (OSError, UnicodeError, ValueError) as exc:
        return Sent(
            Response(None, elapsed(), "connect_error"), now, error=f"resolve: {type(exc).__name__}"
        )
    if not addresses:
        return Sent(Response(None, elapsed(), "connect_error"), now, error="resolve: no address")
    if problem := address_problem(host, addresses, policy):
        return Sent(Response(None, elapsed(), "refused_address"), now, error=problem[:300])
    error = "ConnectError"
    for address in addresses:  # the next checked address when one cannot be reached
        target, host_header, sni = pinned(url, address)
        request_headers = {
            **headers,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "accept-encoding": "identity",
            "host": host_header,
            # a connection to an address is never reused for another host name (its TLS
            # identity is the first one's): one request per connection
            "connection": "close",
        }
        extensions = {"sni_hostname": sni} if parts.scheme.lower() == "https" else {}
        request = http.build_request(
            "POST", target, content=body, headers=request_headers, extensions=extensions
        )
        try:
            response = await http.send(request, stream=True, follow_redirects=False)
            try:
                raw, size = await read_bounded(response, read_bytes)
            finally:
                await response.aclose()
        except httpx.ConnectError as exc:
            error = type(exc).__name__
            continue
        except httpx.TimeoutException as exc:
            return Sent(Response(None, elapsed(), "timeout"), now, error=type(exc).__name__)
        except (httpx.HTTPError, OSError) as exc:
            return Sent(Response(None, elapsed(), "connect_error"), now, error=type(exc).__name__)
        return Sent(
            Response(
                response.status_code,
                elapsed(),
                retry_after=parse_retry_after(response.headers.get("retry-after"), now),
            ),
            now,
            excerpt=_excerpt_of(response, raw, size, excerpt_bytes),
        )
    return Sent(Response(None, elapsed(), "connect_error"), now, error=error)


async def attempt_one(ctx: DeliveryContext, item: Claimed) -> Sent:
    s = ctx.settings
    now = ctx.clock()
    body = orjson.dumps(item.payload)
    if not item.secrets:  # an endpoint always has a secret; a row without one is a bug
        return Sent(Response(None, timedelta(0), "connect_error"), now, error="no active secret")
    # wall time, not ctx.clock: receivers check it against their own clocks (replay guard)
    headers = signing.headers(item.secrets, item.event_id, int(time.time()), body)
    return await send(
        ctx.http,
        item.url,
        body,
        headers,
        policy=s.address_policy(),
        timeout=s.delivery_timeout_seconds,
        read_bytes=s.delivery_response_read_bytes,
        excerpt_bytes=s.delivery_response_excerpt_bytes,
        now=now,
    )


_INSERT_ATTEMPT = text(
    "INSERT INTO delivery.attempt (delivery_id, endpoint_id, event_id, number, "
    "started_at, latency_ms, status_code, outcome, response_excerpt, error) VALUES "
    "(:d, :e, CAST(:ev AS text), :n, :at, :ms, :code, :outcome, "
    # an answer recorded after its event was erased keeps no excerpt (erasure blanked the rest)
    "CASE WHEN EXISTS (SELECT 1 FROM delivery.event WHERE id = CAST(:ev AS text) AND erased_at IS NOT NULL) "
    "THEN NULL ELSE CAST(:excerpt AS text) END, :error)"
)


async def insert_attempt(session: AsyncSession, item: Claimed, sent: Sent, outcome: str) -> None:
    await session.execute(
        _INSERT_ATTEMPT,
        {
            "d": item.delivery_id,
            "e": item.endpoint_id,
            "ev": item.event_id,
            "n": item.attempts + 1,
            "at": sent.started_at,
            "ms": int(sent.response.elapsed.total_seconds() * 1000),
            "code": sent.response.status_code,
            "outcome": outcome,
            "excerpt": sent.excerpt,
            "error": sent.error,
        },
    )


async def record_test(ctx: DeliveryContext, item: Claimed, sent: Sent) -> str:
    """A test-send's one attempt: its delivery ends (delivered, else failed) and the
    endpoint's state is not touched (a 410 is reported, not acted on). Returns the outcome.
    An endpoint deleted meanwhile (its deliveries with it) records nothing."""
    now = ctx.clock()
    outcome = classify(sent.response, timedelta(seconds=ctx.settings.delivery_timeout_seconds))
    state = "delivered" if outcome == "success" else "failed"
    async with ctx.sessions.begin() as session:
        found = await session.scalar(
            text(
                "UPDATE delivery.delivery SET attempts = attempts + 1, state = :state, "
                "next_attempt_at = NULL, leased_until = NULL, finished_at = :now "
                "WHERE id = :id RETURNING id"
            ),
            {"id": item.delivery_id, "state": state, "now": now},
        )
        if found is not None:  # the row is locked: the endpoint cannot go before the attempt
            await insert_attempt(session, item, sent, outcome)
        on_commit(session, lambda: metrics.ATTEMPTS.labels(outcome).inc())
    return outcome


async def fail_test(ctx: DeliveryContext, delivery_id: int, error: str) -> None:
    """A test-send whose send or record raised: its delivery ends failed (never left pending)."""
    async with ctx.sessions.begin() as session:
        await session.execute(
            text(
                "UPDATE delivery.delivery SET state = 'failed', next_attempt_at = NULL, "
                "leased_until = NULL, finished_at = :now WHERE id = :id AND state = 'pending'"
            ),
            {"id": delivery_id, "now": ctx.clock()},
        )
    log.warning("delivery.test_send_failed", delivery_id=delivery_id, error=error)


_RECORD_DELIVERY = text(
    "UPDATE delivery.delivery SET attempts = attempts + 1, state = :state, "
    "next_attempt_at = :due, leased_until = NULL, lease_token = NULL, finished_at = :finished "
    "WHERE id = :id AND state = 'pending' AND lease_token IS NOT DISTINCT FROM :token"
)


async def record(ctx: DeliveryContext, item: Claimed, sent: Sent) -> AttemptDecision:
    """The attempt, the delivery's new state and the endpoint's, in one transaction.

    The delivery changes only while it is still pending under the lease the attempt was sent
    with; otherwise (the lease ran out and another claim took it, or it was skipped while in
    flight) only the attempt is stored, as the audit trail, and the delivery, the endpoint
    and the metrics are left to the attempt that holds it."""
    s = ctx.settings
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        endpoint = (
            await session.execute(
                text(
                    "SELECT enabled, failing_since FROM delivery.endpoint WHERE id = :id "
                    "FOR NO KEY UPDATE"
                ),
                {"id": item.endpoint_id},
            )
        ).one()
        decision = decide(
            sent.response,
            attempts_made=item.attempts + 1,
            now=now,
            failing_since=endpoint.failing_since,
            disable_after=timedelta(days=s.delivery_disable_after_days),
            timeout=timedelta(seconds=s.delivery_timeout_seconds),
            rng=ctx.rng,
        )
        latency = sent.response.elapsed
        await insert_attempt(session, item, sent, decision.outcome)
        finished = decision.delivery_state != "pending"
        updated = await session.execute(
            _RECORD_DELIVERY,
            {
                "id": item.delivery_id,
                "token": item.lease_token,
                "state": decision.delivery_state,
                "due": decision.next_attempt_at,
                "finished": now if finished else None,
            },
        )
        if not updated.rowcount:  # type: ignore[attr-defined]
            log.info("delivery.answer_outside_lease", delivery_id=item.delivery_id)
            return decision
        if decision.outcome == "success":
            await session.execute(
                text(
                    "UPDATE delivery.endpoint SET failing_since = NULL, last_success_at = :now "
                    "WHERE id = :id"
                ),
                {"id": item.endpoint_id, "now": now},
            )
        else:
            await session.execute(
                text("UPDATE delivery.endpoint SET failing_since = :since WHERE id = :id"),
                {"id": item.endpoint_id, "since": decision.endpoint_failing_since},
            )
        disabled = decision.disable if endpoint.enabled else None
        if disabled is not None:
            await disable_endpoint(
                session,
                item.endpoint_id,
                cast(DisableReason, disabled),
                now,
                last_status_code=sent.response.status_code,
                failing_since=decision.endpoint_failing_since,
                topic=DELIVERY_ENDPOINT_DISABLED.topic,  # the relay adds the prefix
            )

        def count() -> None:
            metrics.ATTEMPTS.labels(decision.outcome).inc()
            metrics.ATTEMPT_SECONDS.labels(decision.outcome).observe(latency.total_seconds())
            if finished:
                metrics.DELIVERIES.labels(decision.delivery_state, item.event_type).inc()

        on_commit(session, count)
    if disabled is not None:
        ctx.relay.notify()
        log.warning(
            "delivery.endpoint_disabled", endpoint_id=str(item.endpoint_id), reason=disabled
        )
    return decision


async def disable_endpoint(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    reason: DisableReason,
    now: datetime,
    *,
    last_status_code: int | None,
    failing_since: datetime | None,
    topic: str,
) -> None:
    """Disable an endpoint, skip its pending deliveries, publish the disabling (outbox);
    both counted on commit."""
    await session.execute(
        text(
            "UPDATE delivery.endpoint SET enabled = false, disabled_reason = :reason, "
            "disabled_at = :now, updated_at = :now WHERE id = :id"
        ),
        {"id": endpoint_id, "reason": reason, "now": now},
    )
    skipped = (
        (
            await session.execute(
                text(
                    "UPDATE delivery.delivery d SET state = 'skipped', skipped_reason = 'endpoint disabled', "
                    "finished_at = :now, next_attempt_at = NULL, leased_until = NULL FROM delivery.event ev "
                    "WHERE d.endpoint_id = :id AND d.state = 'pending' AND ev.id = d.event_id "
                    "RETURNING ev.type"
                ),
                {"id": endpoint_id, "now": now},
            )
        )
        .scalars()
        .all()
    )
    data = EndpointDisabled(
        endpoint_id=endpoint_id,
        reason=reason,
        disabled_at=now,
        last_status_code=last_status_code,
        failing_since=failing_since,
    )
    event = make_event(
        type=DELIVERY_ENDPOINT_DISABLED.type,
        source=SOURCE,
        subject=str(endpoint_id),
        data=data,
        time=now,
    )
    enqueue(session, Outbox, topic, str(endpoint_id), event, now)
    on_commit(session, lambda: metrics.ENDPOINTS_DISABLED.labels(reason).inc())
    metrics.count_skipped(session, skipped)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (its class, not its message: a message may quote
    the bound parameters)."""
    orig = getattr(exc, "orig", None)
    for source in (orig, getattr(orig, "__cause__", None)):
        code = getattr(source, "sqlstate", None) or getattr(source, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def _permanent(exc: Exception) -> bool:
    """A recording failure that trying again will not cure: the stored values themselves
    (a data exception, SQLSTATE class 22, or one the driver refused to encode)."""
    code = sqlstate(exc)
    causes = (exc, getattr(exc, "orig", None), exc.__cause__)
    return (code is not None and code.startswith("22")) or any(
        isinstance(c, (ValueError, TypeError, UnicodeError)) for c in causes
    )


async def record_safely(ctx: DeliveryContext, item: Claimed, sent: Sent) -> None:
    """``record``; when the values cannot be stored, the attempt again without its excerpt
    (a delivery whose answer can never be recorded would otherwise be re-sent forever)."""
    try:
        await record(ctx, item, sent)
        return
    except Exception as exc:  # the lease runs out and it is attempted again
        log.warning(
            "delivery.record_failed",
            delivery_id=item.delivery_id,
            error=type(exc).__name__,
            sqlstate=sqlstate(exc),
        )
        if not _permanent(exc) or sent.excerpt is None:
            return
    try:
        await record(ctx, item, replace(sent, excerpt=None))
    except Exception as exc:
        log.warning(
            "delivery.record_failed",
            delivery_id=item.delivery_id,
            error=type(exc).__name__,
            sqlstate=sqlstate(exc),
        )


async def release(ctx: DeliveryContext, items: Sequence[Claimed]) -> None:
    """Give back the leases of claimed deliveries never started (due again at once)."""
    if not items:
        return
    async with ctx.sessions.begin() as session:
        await session.execute(
            text(
                "UPDATE delivery.delivery SET leased_until = NULL, lease_token = NULL "
                "WHERE id = ANY(:ids) AND lease_token = :token"
            ),
            {"ids": [i.delivery_id for i in items], "token": items[0].lease_token},
        )


async def dispatch_due(ctx: DeliveryContext, stopping: asyncio.Event | None = None) -> int:
    """Claim due deliveries (at most ``delivery_concurrency``, ``delivery_batch_size``), send
    them concurrently, record each result. Returns how many were claimed.

    A claimed delivery whose turn comes too late to finish within its lease is not sent (it
    is claimed again when the lease ends); once ``stopping`` is set no queued send starts,
    and the leases of those never started are given back."""
    claimed = await claim(ctx)
    if not claimed:
        return 0
    limit = asyncio.Semaphore(ctx.settings.delivery_concurrency)
    budget = timedelta(seconds=ctx.settings.delivery_timeout_seconds)
    not_started: list[Claimed] = []

    async def one(item: Claimed) -> None:
        async with limit:
            if stopping is not None and stopping.is_set():
                not_started.append(item)
                return
            if item.leased_until is not None and ctx.clock() + budget > item.leased_until:
                return  # too late to finish within the lease: left for the next claim
            try:
                sent = await attempt_one(ctx, item)
            except Exception as exc:  # a bug in building the request: an attempt all the same
                sent = Sent(
                    Response(None, timedelta(0), "connect_error"),
                    ctx.clock(),
                    error=type(exc).__name__,
                )
        await record_safely(ctx, item, sent)

    await asyncio.gather(*(one(item) for item in claimed))
    try:
        await release(ctx, not_started)
    except Exception as exc:  # the leases run out by themselves
        log.warning("delivery.release_failed", error=type(exc).__name__, sqlstate=sqlstate(exc))
    return len(claimed)
