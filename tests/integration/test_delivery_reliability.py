"""Delivery under crashes and failing receivers, against real Kafka and PostgreSQL: kill -9
of the delivery process under load, then a restart, delivers every event at least once
and every re-delivery is the same request (same ``webhook-id``, identical body, a valid
signature); the retry schedule, ``Retry-After``, 410 and 5-day disabling, late 2xx,
redirects and endless bodies under a manual clock."""

from __future__ import annotations

import asyncio
import collections
import itertools
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import standardwebhooks
from sqlalchemy import text

from services.delivery.dispatch import dispatch_due
from services.delivery.domain.schedule import RETRY_DELAYS
from services.delivery.endpoints_repo import create_endpoint
from services.delivery.runtime import DeliveryRuntime
from services.delivery.settings import DeliverySettings
from shared import db
from shared.events.envelope import CloudEvent
from shared.events.registry import LEAD_ASSIGNED, LEAD_SLA
from shared.stack.common import free_port
from shared.stack.stack import SERVICES, ServiceProcess
from tests.clock import ManualClock
from tests.integration.test_delivery import ReceiverWebhook, event_of, publish, stored
from tests.kafka_helpers import wait_for
from tests.router_env import sql

DELIVERY = next(s for s in SERVICES if s.name == "delivery")


@dataclass
class Got:
    webhook_id: str
    body: bytes
    valid: bool


@dataclass
class SlowReceiver:
    """Answers 204 after 50-200 ms, verifying each request with the library."""

    server: ThreadingHTTPServer
    secret: str = ""
    got: list[Got] = field(default_factory=list)
    arrived: int = 0  # requests read, answered or not yet
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def slow_receiver() -> Iterator[SlowReceiver]:
    state: SlowReceiver

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with state.lock:
                state.arrived += 1
            try:
                standardwebhooks.Webhook(state.secret).verify(body, headers)
                valid = True
            except Exception:
                valid = False
            time.sleep(random.uniform(0.05, 0.2))
            with state.lock:
                state.got.append(Got(headers.get("webhook-id", ""), body, valid))
            self.send_response(204 if valid else 400)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = SlowReceiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def start_delivery(env, log_dir, name: str = "delivery", **extra: str) -> ServiceProcess:
    proc = ServiceProcess(
        DELIVERY,
        env.env(
            LEADFLOW_DELIVERY_CONSUMER_GROUP=f"{env.prefix}delivery",
            LEADFLOW_DELIVERY_TICK_SECONDS="0.1",
            LEADFLOW_DELIVERY_LEASE_SECONDS="3",
            LEADFLOW_DELIVERY_BATCH_SIZE="20",
            **extra,
        ),
        port=free_port(),
        log=log_dir / f"{name}.log",
    )
    proc.start()
    proc.wait_ready()
    return proc


async def delivered_count(env) -> int:
    return (await sql(env, "SELECT count(*) FROM delivery.delivery WHERE state = 'delivered'"))[0][
        0
    ]


async def test_kill_9_under_load_then_restart_delivers_every_event_with_the_same_request(
    env, producer, slow_receiver, tmp_path
):
    engine = db.create_engine(env.database_url, pool_size=1)
    try:
        async with db.sessionmaker(engine).begin() as session:
            hook = await create_endpoint(
                session, slow_receiver.url, [LEAD_ASSIGNED.type, LEAD_SLA.type], datetime.now(UTC)
            )
    finally:
        await engine.dispose()
    slow_receiver.secret = hook.secret
    now = datetime.now(UTC)
    events = [event_of(LEAD_ASSIGNED if i % 2 else LEAD_SLA, uuid.uuid4(), now) for i in range(300)]

    proc = await asyncio.to_thread(start_delivery, env, tmp_path, "delivery-kill")
    try:
        await publish(env, producer, *events)

        async def in_flight() -> bool:  # delivered some, and some sent but not yet recorded
            delivered = await delivered_count(env)
            return delivered >= 30 and slow_receiver.arrived - delivered >= 5

        await wait_for(in_flight, timeout=60, interval=0.01)
        proc.kill()
        at_kill = await delivered_count(env)
        assert at_kill < len(events), "killed too late to prove anything"
        await asyncio.to_thread(proc.start)
        await wait_for(lambda: _at_least(env, len(events)), timeout=60)
    finally:
        await asyncio.to_thread(proc.stop)
    by_id: dict[str, list[Got]] = collections.defaultdict(list)
    for got in slow_receiver.got:
        by_id[got.webhook_id].append(got)
    assert set(by_id) == {e.id for e in events}, "every event received at least once"
    assert all(g.valid for g in slow_receiver.got), "every request verified"
    assert any(len(copies) > 1 for copies in by_id.values()), "some were in flight at the kill"
    assert all(all(g.body == copies[0].body for g in copies) for copies in by_id.values()), (
        "a re-delivery is the same request"
    )
    rows = await sql(
        env,
        "SELECT endpoint_id, event_id, count(*), "
        "count(*) FILTER (WHERE state = 'delivered') FROM delivery.delivery "
        "WHERE origin = 'live' GROUP BY endpoint_id, event_id",
    )
    assert len(rows) == len(events)
    assert all(n == 1 and delivered == 1 for _, _, n, delivered in rows)


async def _at_least(env, count: int) -> bool:
    return await delivered_count(env) >= count


# --- in-process, under a manual clock and a fixed random source (jitter factor exactly 1) ---

Answer = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Scripted:
    """A receiver answering each path with its script; every request verified and recorded
    with the manual clock's time."""

    server: ThreadingHTTPServer
    now: Callable[[], datetime]
    secrets: dict[str, str] = field(default_factory=dict)
    scripts: dict[str, Answer] = field(default_factory=dict)
    got: list[tuple[str, str, datetime]] = field(default_factory=list)  # path, id, when
    rejected: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[datetime]:
        return [when for p, _, when in self.got if p == path]


def status(code: int, **headers: str) -> Answer:
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(code)
        for name, v in headers.items():
            h.send_header(name.replace("_", "-"), v)
        h.send_header("content-length", "0")
        h.end_headers()

    return answer


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    state: Scripted

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                ReceiverWebhook(state.secrets[self.path], state.now).verify(body, headers)
            except Exception as exc:
                state.rejected.append(f"{self.path}: {exc!r}")
            state.got.append((self.path, headers.get("webhook-id", ""), state.now()))
            state.scripts.get(self.path, status(204))(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    clock = ManualClock(datetime.now(UTC))
    state = Scripted(server, clock)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def overrides() -> dict[str, Any]:
    """Settings of the in-process runtime; a test changes them with
    ``@pytest.mark.parametrize("overrides", [{...}])``."""
    return {}


@pytest.fixture
async def in_process(env, scripted, overrides):
    """The delivery runtime in the test's process, its clock the receiver's, dispatching only
    when the test calls ``dispatch_due``."""
    settings = DeliverySettings(
        env="test", topic_prefix=env.prefix, database_url=env.database_url,
        kafka_bootstrap_servers=env.stack.bootstrap, delivery_consumer_group=f"{env.prefix}delivery",
        **overrides,
    )  # fmt: skip
    failures: list[BaseException] = []
    runtime = DeliveryRuntime(
        settings, clock=scripted.now, rng=lambda: 0.5, on_fatal=failures.append, dispatch=False
    )
    ctx = await runtime.start()
    yield ctx
    await runtime.stop()
    assert not failures


async def endpoint_for(ctx, scripted: Scripted, path: str, *types: str):
    async with ctx.sessions.begin() as session:
        made = await create_endpoint(
            session, scripted.url(path), list(types or [LEAD_SLA.type]), ctx.clock()
        )
    scripted.secrets[path] = made.secret
    return made.endpoint.id


async def arrive(env, producer, ctx, event_type=LEAD_SLA) -> CloudEvent:
    """One event published and stored (its deliveries created, due now)."""
    event = event_of(event_type, uuid.uuid4(), ctx.clock())
    await publish(env, producer, event)
    await wait_for(lambda: stored(ctx, [event.id]), timeout=20, interval=0.02)
    return event


async def one_row(ctx, query: str, **params: Any) -> Any:
    async with ctx.sessions() as session:
        return (await session.execute(text(query), params)).one()


async def test_a_receiver_always_failing_sees_the_whole_schedule_then_the_delivery_fails(
    env, producer, in_process, scripted
):
    ctx, clock = in_process, scripted.now
    await endpoint_for(ctx, scripted, "/down")
    scripted.scripts["/down"] = status(500)
    event = await arrive(env, producer, ctx)
    assert await dispatch_due(ctx) == 1  # attempt 1: at once
    for delay in RETRY_DELAYS[1:]:
        clock.advance(seconds=delay.total_seconds() - 0.001)
        assert await dispatch_due(ctx) == 0, f"nothing before {delay}"
        clock.advance(seconds=0.001)
        assert await dispatch_due(ctx) == 1, f"the attempt due after {delay}"
    clock.advance(days=1)
    assert await dispatch_due(ctx) == 0, "eight attempts in all"

    times = scripted.at("/down")
    assert [b - a for a, b in itertools.pairwise(times)] == list(RETRY_DELAYS[1:])
    assert {i for _, i, _ in scripted.got} == {event.id} and scripted.rejected == []
    row = await one_row(
        ctx, "SELECT state, attempts, next_attempt_at, finished_at FROM delivery.delivery"
    )
    assert (row.state, row.attempts, row.next_attempt_at) == ("failed", 8, None)
    async with ctx.sessions() as session:
        stored_times = (
            (await session.execute(text("SELECT started_at FROM delivery.attempt ORDER BY number")))
            .scalars()
            .all()
        )
    assert stored_times == times


async def test_retry_after_on_429_and_503_postpones_the_next_attempt(
    env, producer, in_process, scripted
):
    ctx, clock = in_process, scripted.now
    await endpoint_for(ctx, scripted, "/busy")
    scripted.scripts["/busy"] = status(429, retry_after="120")
    await arrive(env, producer, ctx)
    assert await dispatch_due(ctx) == 1
    clock.advance(seconds=119.999)  # the schedule says 5 s; the receiver said 120
    assert await dispatch_due(ctx) == 0
    later = (clock() + timedelta(hours=1)).replace(microsecond=0)  # HTTP-dates have seconds
    scripted.scripts["/busy"] = status(503, retry_after=format_datetime(later, usegmt=True))
    clock.advance(seconds=0.001)
    assert await dispatch_due(ctx) == 1  # attempt 2 answered 503 with a date an hour on
    clock.now = later - timedelta(milliseconds=1)  # the schedule says 5 min
    assert await dispatch_due(ctx) == 0
    scripted.scripts["/busy"] = status(204)
    clock.now = later
    assert await dispatch_due(ctx) == 1
    row = await one_row(ctx, "SELECT state, attempts FROM delivery.delivery")
    assert tuple(row) == ("delivered", 3)
    async with ctx.sessions() as session:
        outcomes = (
            (await session.execute(text("SELECT outcome FROM delivery.attempt ORDER BY number")))
            .scalars()
            .all()
        )
    assert outcomes == ["throttled", "throttled", "success"]
