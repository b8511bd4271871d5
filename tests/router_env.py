"""An isolated router environment: its own database and topic prefix on the session's stack."""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from shared import db
from shared.events.envelope import make_event
from shared.events.models import LeadData, LeadReceived, SourceRef
from shared.events.registry import LEAD_RECEIVED
from shared.kafka.producer import EventProducer
from shared.kafka.topics import all_topics, ensure_topics
from shared.stack.stack import SERVICES, Stack

FIXTURES = Path(__file__).parent / "fixtures"
ROUTER = next(s for s in SERVICES if s.name == "router")


@dataclass
class RouterEnv:
    stack: Stack
    prefix: str
    database_url: str

    def env(self, **extra: str) -> dict[str, str]:
        return self.stack.env(
            **{
                "LEADFLOW_ENV": "test",
                "LEADFLOW_LOG_LEVEL": "WARNING",
                "LEADFLOW_TOPIC_PREFIX": self.prefix,
                "LEADFLOW_DATABASE_URL": self.database_url,
                "LEADFLOW_ROUTER_ROUTING_FILE": str(FIXTURES / "routing-24x7.yaml"),
                "LEADFLOW_ROUTER_CONSUMER_GROUP": f"{self.prefix}router",
                **extra,
            }
        )

    def settings_kwargs(self) -> dict[str, Any]:
        return {
            "env": "test",
            "topic_prefix": self.prefix,
            "database_url": self.database_url,
            "kafka_bootstrap_servers": self.stack.bootstrap,
            "router_routing_file": FIXTURES / "routing-24x7.yaml",
            "router_consumer_group": f"{self.prefix}router",
        }

    def topic(self, name: str) -> str:
        return self.prefix + name


# a database migrated once per PostgreSQL (every service's schema at head), copied for each
# environment: CREATE DATABASE ... TEMPLATE copies it whole in a fraction of the migrations' time
_templates: dict[tuple[str, int], str] = {}
_template_lock = threading.Lock()  # fixtures may run on different event loops


def _migrated_template(stack: Stack) -> str:
    """Blocking: call from a thread in async code."""
    key = (stack.postgres.host, stack.postgres.port)
    with _template_lock:
        if key not in _templates:
            name = f"template_{uuid.uuid4().hex[:10]}"
            stack.postgres.ensure_database(name)
            url = stack.postgres.url(name)
            for spec in SERVICES:
                assert spec.migrations is not None
                db.upgrade(spec.migrations, url, spec.schema)
            _templates[key] = name
        return _templates[key]


async def _copy_database(stack: Stack, template: str, name: str) -> None:
    conn = await asyncpg.connect(
        host=stack.postgres.host, port=stack.postgres.port, user="postgres", database="postgres"
    )
    try:
        for attempt in range(50):
            try:
                await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                return
            except asyncpg.ObjectInUseError:  # a connection to the template is still closing
                if attempt == 49:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def make_router_env(stack: Stack) -> RouterEnv:
    """A database with every service's schema migrated to head, and its own topic prefix."""
    name = f"t{uuid.uuid4().hex[:10]}"
    template = await asyncio.to_thread(_migrated_template, stack)
    await _copy_database(stack, template, name)
    url = stack.postgres.url(name)
    prefix = f"{name}."
    await ensure_topics(stack.bootstrap, all_topics(prefix))
    return RouterEnv(stack=stack, prefix=prefix, database_url=url)


def sales_ready(email: str, **fields: Any) -> dict[str, Any]:
    """A profile that scores above the MQL threshold with the shipped scoring rules (given to sales)."""
    return {
        "email": email,
        "first_name": fields.pop("first_name", "Ada"),
        "last_name": fields.pop("last_name", "Byron"),
        "company": fields.pop("company", None),
        "job_title": "VP Engineering",
        "company_size": "1001-5000",
        "industry": fields.pop("industry", "Software"),
        "country": "DE",
        "phone": fields.pop("phone", None),
        **fields,
    }


def received(
    fields: dict[str, Any],
    *,
    at: datetime | None = None,
    source: str = "website",
    kind: str = "signed",
) -> tuple[str, bytes, Any]:
    """A leads.received.v1 event as ingest would publish it: (topic, key, event)."""
    from shared.domain.contact import match_key

    lead = LeadData.model_validate({k: v for k, v in fields.items() if v is not None})
    lead_id = uuid.uuid4()
    channel = "purchased_list" if kind == "list" else "web"
    at = at or datetime.now(UTC)
    key = str(match_key(lead.email, lead.phone, str(lead_id)))
    data = LeadReceived(
        lead_id=lead_id,
        match_key=key,
        source=SourceRef(id=source, kind=kind),  # type: ignore[arg-type]
        channel=channel,  # type: ignore[arg-type]
        purchased_list=kind == "list",
        received_at=at,
        lead=lead,
    )
    event = make_event(
        type=LEAD_RECEIVED.type, source=f"/tests/{source}", subject=str(lead_id), data=data, time=at
    )
    return LEAD_RECEIVED.topic, key.encode(), event


async def publish_received(
    env: RouterEnv, producer: EventProducer, items: list[tuple[str, bytes, Any]]
) -> None:
    await producer.publish_many([(env.topic(t), k, e, ()) for t, k, e in items])


async def sql(env: RouterEnv, query: str, **params: Any) -> list[Any]:
    """Run one statement on the environment's database; returns the rows."""
    from sqlalchemy import text

    engine = db.create_engine(env.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(query), params)).all())
    finally:
        await engine.dispose()


async def write(env: RouterEnv, statement: str, **params: Any) -> None:
    """Run one statement on the environment's database and commit it."""
    from sqlalchemy import text

    engine = db.create_engine(env.database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement), params)
    finally:
        await engine.dispose()
