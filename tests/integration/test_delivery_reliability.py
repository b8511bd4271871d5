"""Delivery under crashes and failing receivers, against real Kafka and PostgreSQL: kill -9
of the delivery process under load, then a restart, delivers every event at least once
and every re-delivery is the same request (same ``webhook-id``, identical body, a valid
signature); the retry schedule, ``Retry-After``, 410 and 5-day disabling, late 2xx,
redirects and endless bodies under a manual clock; the /metrics of a running delivery
process after deliveries."""

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

import httpx
import pytest
import standardwebhooks
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from services.delivery import metrics
from services.delivery.dispatch import dispatch_due
from services.delivery.domain.schedule import RETRY_DELAYS
from services.delivery.endpoints_repo import create_endpoint
from services.delivery.runtime import DeliveryRuntime
from services.delivery.settings import DeliverySettings
from shared import db
from shared.events.envelope import CloudEvent
from shared.events.registry import (
    DELIVERY_ENDPOINT_DISABLED,
    LEAD_ASSIGNED,
    LEAD_LIFECYCLE,
    LEAD_SLA,
)
from shared.stack.common import free_port
from shared.stack.stack import SERVICES, ServiceProcess
from tests.clock import ManualClock
from tests.integration.test_delivery import event_of, publish, stored
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.router_env import sql


class Server(ThreadingHTTPServer):
    # every delivery opens its own connection: a listen backlog of 5 (http.server's default)
    # overflows at 16 in flight, and the kernel drops connections a real receiver would take
    request_queue_size = 128


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

    server = Server(("127.0.0.1", 0), Handler)
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
            # the receiver answers in 50-200 ms; a busy machine must not turn that into timeouts
            # (a third attempt would come 5 min later)
            LEADFLOW_DELIVERY_TIMEOUT_SECONDS="5",
            LEADFLOW_DELIVERY_LEASE_SECONDS="15",  # the shortest lease two timeouts allow
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
        await wait_for(lambda: _at_least(env, len(events)), timeout=90)
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
                # webhook-timestamp is wall time: the library's own tolerance check applies
                standardwebhooks.Webhook(state.secrets[self.path]).verify(body, headers)
            except Exception as exc:
                state.rejected.append(f"{self.path}: {exc!r}")
            state.got.append((self.path, headers.get("webhook-id", ""), state.now()))
            state.scripts.get(self.path, status(204))(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = Server(("127.0.0.1", 0), Handler)
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


def sample(metric, *labels: str) -> float:
    return float(metric.labels(*labels)._value.get())


async def test_a_410_disables_the_endpoint_skips_its_pending_deliveries_and_nothing_more_is_sent(
    env, producer, in_process, scripted, stack
):
    ctx, clock = in_process, scripted.now
    gone = await endpoint_for(ctx, scripted, "/gone")
    scripted.scripts["/gone"] = status(500)
    disabled_before = sample(metrics.ENDPOINTS_DISABLED, "gone")
    skipped_before = sample(metrics.DELIVERIES, "skipped", LEAD_SLA.type)
    async with TopicReader(stack.bootstrap, env.topic(DELIVERY_ENDPOINT_DISABLED.topic)) as notices:
        waiting = await arrive(env, producer, ctx)
        assert await dispatch_due(ctx) == 1  # 500: retried in 5 s
        scripted.scripts["/gone"] = status(410)
        answered = await arrive(env, producer, ctx)
        assert await dispatch_due(ctx) == 1  # only the new one is due: 410
        (notice,) = await notices.read(until=lambda rs: len(rs) >= 1)
    data = value(notice)["data"]
    assert (data["endpoint_id"], data["reason"], data["last_status_code"]) == (
        str(gone),
        "gone",
        410,
    )
    assert data["failing_since"] is not None
    row = await one_row(
        ctx, "SELECT enabled, disabled_reason, disabled_at FROM delivery.endpoint WHERE id = :id",
        id=gone,
    )  # fmt: skip
    assert (row.enabled, row.disabled_reason, row.disabled_at) == (False, "gone", clock())
    async with ctx.sessions() as session:
        states = dict(
            (await session.execute(text("SELECT event_id, state FROM delivery.delivery"))).all()
        )
    assert states == {waiting.id: "skipped", answered.id: "failed"}
    assert sample(metrics.ENDPOINTS_DISABLED, "gone") == disabled_before + 1
    assert sample(metrics.DELIVERIES, "skipped", LEAD_SLA.type) == skipped_before + 1

    sent = len(scripted.got)
    await arrive(env, producer, ctx)  # no delivery is created for a disabled endpoint
    clock.advance(days=2)
    assert await dispatch_due(ctx) == 0
    assert len(scripted.got) == sent == 2


async def test_failing_for_five_days_disables_and_a_success_in_between_starts_the_count_again(
    env, producer, in_process, scripted, stack
):
    ctx, clock = in_process, scripted.now
    hook = await endpoint_for(ctx, scripted, "/flaky")

    async def failing_since():
        return (
            await one_row(
                ctx, "SELECT enabled, disabled_reason, failing_since, last_success_at "
                "FROM delivery.endpoint WHERE id = :id", id=hook,
            )
        )  # fmt: skip

    scripted.scripts["/flaky"] = status(500)
    start = clock()
    await arrive(env, producer, ctx)
    await dispatch_due(ctx)
    assert (await failing_since()).failing_since == start
    clock.advance(days=4, hours=12)
    scripted.scripts["/flaky"] = status(204)
    await arrive(env, producer, ctx)
    await dispatch_due(ctx)  # a success after 4.5 days of failures
    row = await failing_since()
    assert (row.enabled, row.failing_since, row.last_success_at) == (True, None, clock())

    scripted.scripts["/flaky"] = status(500)
    async with TopicReader(stack.bootstrap, env.topic(DELIVERY_ENDPOINT_DISABLED.topic)) as notices:
        restart = clock()
        for _ in range(10):  # a new event every 12 hours, every attempt failing
            await arrive(env, producer, ctx)
            await dispatch_due(ctx)
            row = await failing_since()
            assert (row.enabled, row.failing_since) == (True, restart), clock() - restart
            clock.advance(hours=12)
        await arrive(env, producer, ctx)  # five days after the first failure since the success
        await dispatch_due(ctx)
        row = await failing_since()
        assert (row.enabled, row.disabled_reason, row.failing_since) == (False, "failing", restart)
        (notice,) = await notices.read(until=lambda rs: len(rs) >= 1)
    assert value(notice)["data"]["reason"] == "failing"
    assert await one_row(
        ctx, "SELECT count(*) FROM delivery.delivery WHERE state = 'pending'"
    ) == (0,)  # fmt: skip


def late(seconds: float) -> Answer:
    def answer(h: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        status(204)(h)

    return answer


def endless(h: BaseHTTPRequestHandler) -> None:
    """200 and a body that never ends (until the client hangs up); counts what it wrote."""
    h.send_response(200)
    h.send_header("content-type", "text/plain")
    h.end_headers()  # no length: the body runs until the connection closes
    chunk = b"x" * 65536
    try:
        while ENDLESS["written"] < 1 << 30:
            h.wfile.write(chunk)
            ENDLESS["written"] += len(chunk)
    except OSError:
        pass
    h.close_connection = True


ENDLESS = {"written": 0}


@pytest.mark.parametrize("overrides", [{"delivery_timeout_seconds": 0.5}])
async def test_a_late_2xx_a_redirect_and_an_endless_body_are_handled_as_the_rules_say(
    env, producer, in_process, scripted
):
    ctx = in_process
    for path in ("/late", "/moved", "/ok", "/endless"):
        await endpoint_for(ctx, scripted, path)
    scripted.scripts["/late"] = late(1.0)
    scripted.scripts["/moved"] = status(307, location=scripted.url("/ok"))
    scripted.scripts["/endless"] = endless
    ENDLESS["written"] = 0
    event = await arrive(env, producer, ctx)
    started = time.monotonic()
    assert await dispatch_due(ctx) == 4
    assert time.monotonic() - started < 5
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT e.url, a.outcome, a.status_code, d.state, length(a.response_excerpt) AS n "
                    "FROM delivery.attempt a JOIN delivery.endpoint e ON e.id = a.endpoint_id "
                    "JOIN delivery.delivery d ON d.id = a.delivery_id"
                )
            )
        ).all()
    by_path = {r.url.rsplit("/", 1)[-1]: r for r in rows}
    assert (by_path["late"].outcome, by_path["late"].state) == ("timeout", "pending")
    assert (by_path["moved"].outcome, by_path["moved"].status_code) == ("http_error", 307)
    assert by_path["moved"].state == "pending"
    assert [p for p, _, _ in scripted.got].count("/ok") == 1, "the redirect was not followed"
    assert (by_path["endless"].outcome, by_path["endless"].state) == ("success", "delivered")
    assert by_path["endless"].n == ctx.settings.delivery_response_excerpt_bytes
    assert ENDLESS["written"] < 64 << 20, "read up to the bound, then hung up"
    assert {i for _, i, _ in scripted.got} == {event.id}


def scrape(proc: ServiceProcess) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The process's /metrics as {(sample name, labels): value}."""
    text_ = httpx.get(f"{proc.url}/metrics", timeout=5).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text_)
        for s in family.samples
    }


def at(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_metrics_show_deliveries_attempts_backlog_and_disablings(
    env, producer, scripted, tmp_path
):
    engine = db.create_engine(env.database_url, pool_size=1)
    ids = {}
    try:
        for path, types in (
            ("/ok", [LEAD_ASSIGNED.type, LEAD_SLA.type]),
            ("/down", [LEAD_SLA.type]),
            ("/gone", [LEAD_LIFECYCLE.type]),
        ):
            async with db.sessionmaker(engine).begin() as session:
                made = await create_endpoint(session, scripted.url(path), types, datetime.now(UTC))
            scripted.secrets[path], ids[path] = made.secret, str(made.endpoint.id)
    finally:
        await engine.dispose()
    scripted.now = lambda: datetime.now(UTC)  # the process runs on real time
    scripted.scripts = {"/down": status(500), "/gone": status(410)}
    now = datetime.now(UTC)
    events = [event_of(LEAD_ASSIGNED, uuid.uuid4(), now) for _ in range(3)]
    events += [event_of(LEAD_SLA, uuid.uuid4(), now) for _ in range(2)]
    events += [event_of(LEAD_LIFECYCLE, uuid.uuid4(), now)]

    proc = await asyncio.to_thread(
        start_delivery, env, tmp_path, "delivery-metrics", LEADFLOW_DELIVERY_GAUGE_SECONDS="0.3"
    )
    try:
        await publish(env, producer, *events)
        samples: dict = {}

        async def settled() -> bool:
            samples.clear()
            samples.update(await asyncio.to_thread(scrape, proc))
            return (
                at(samples, "leadflow_webhook_deliveries_total", outcome="delivered",
                   event_type=LEAD_SLA.type) == 2
                and at(samples, "leadflow_webhook_deliveries_total", outcome="delivered",
                       event_type=LEAD_ASSIGNED.type) == 3
                and at(samples, "leadflow_webhook_backlog", endpoint=ids["/down"]) == 2
                and at(samples, "leadflow_webhook_backlog", endpoint=ids["/ok"]) == 0
                and at(samples, "leadflow_webhook_backlog", endpoint=ids["/gone"]) == 0
                and at(samples, "leadflow_webhook_endpoints", state="disabled") == 1
                # both of /down's first attempts made (the backlog counts them before too)
                and (at(samples, "leadflow_webhook_attempt_seconds_count",
                        outcome="http_error") or 0) >= 2
            )  # fmt: skip

        await wait_for(settled, timeout=30, interval=0.2)  # the backlog: refreshed every 0.3 s
    finally:
        await asyncio.to_thread(proc.stop)
    assert scripted.rejected == []
    deliveries = "leadflow_webhook_deliveries_total"
    assert at(samples, deliveries, outcome="delivered", event_type=LEAD_ASSIGNED.type) == 3
    assert at(samples, deliveries, outcome="failed", event_type=LEAD_LIFECYCLE.type) == 1
    assert at(samples, deliveries, outcome="failed", event_type=LEAD_SLA.type) is None
    assert at(samples, "leadflow_webhook_endpoints", state="enabled") == 2
    assert at(samples, "leadflow_webhook_endpoints_disabled_total", reason="gone") == 1
    assert at(samples, "leadflow_webhook_endpoints_disabled_total", reason="failing") is None
    seconds = "leadflow_webhook_attempt_seconds_count"
    assert at(samples, seconds, outcome="success") == 5
    assert at(samples, seconds, outcome="gone") == 1
    assert at(samples, seconds, outcome="http_error") >= 2  # the 5 s retries may have run
    assert at(samples, "leadflow_webhook_attempts_total", outcome="success") == 5
    assert at(samples, "leadflow_webhook_attempt_seconds_bucket", outcome="success", le="+Inf") == 5


async def test_with_real_jitter_each_retry_is_due_within_ten_percent_of_the_schedule(
    env, producer, in_process, scripted
):
    ctx, clock = in_process, scripted.now
    ctx.rng = random.Random(7).random  # the jitter the service draws, reproducibly
    await endpoint_for(ctx, scripted, "/down")
    scripted.scripts["/down"] = status(503)
    await arrive(env, producer, ctx)
    assert await dispatch_due(ctx) == 1
    factors = []
    for delay in RETRY_DELAYS[1:]:
        due = (await one_row(ctx, "SELECT next_attempt_at FROM delivery.delivery"))[0]
        factor = (due - clock()) / delay
        assert 0.9 <= factor <= 1.1, (delay, factor)
        factors.append(factor)
        clock.now = due - timedelta(milliseconds=1)
        assert await dispatch_due(ctx) == 0
        clock.now = due
        assert await dispatch_due(ctx) == 1
    assert len(set(factors)) == len(factors), "a factor drawn for each retry"
    row = await one_row(ctx, "SELECT state, attempts FROM delivery.delivery")
    assert tuple(row) == ("failed", 8)
