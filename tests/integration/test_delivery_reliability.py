"""Delivery under crashes and failing receivers, against real Kafka and PostgreSQL: kill -9
of the delivery process under load, then a restart, delivers every event at least once
and every re-delivery is the same request (same ``webhook-id``, identical body, a valid
signature); the retry schedule, ``Retry-After``, 410 and 5-day disabling, late 2xx,
redirects and endless bodies under a manual clock."""

from __future__ import annotations

import asyncio
import collections
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import standardwebhooks

from services.delivery.endpoints_repo import create_endpoint
from shared import db
from shared.events.registry import LEAD_ASSIGNED, LEAD_SLA
from shared.stack.common import free_port
from shared.stack.stack import SERVICES, ServiceProcess
from tests.integration.test_delivery import event_of, publish
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
