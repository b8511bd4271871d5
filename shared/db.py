"""Database plumbing: async engine per process, declarative base with a naming convention,
and Alembic migrations per owning service (each service migrates only its own schema)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


async def lock_keys(session: AsyncSession, *keys: str) -> None:
    """Transaction-level advisory locks on arbitrary keys, taken in one statement in the
    order of their hashes, so that holders of several never deadlock; released at commit or
    rollback."""
    if not keys:
        return
    await session.execute(
        text(
            "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(k, 0) AS h"
            " FROM unnest(CAST(:keys AS text[])) AS k) AS s ORDER BY h"
        ),
        {"keys": sorted(set(keys))},
    )


def lead_ref_key(ref: object) -> str:
    """The lock key for a lead reference (a canonical or a submission id): an activity that
    names it and the event that introduces it are serialized, so the activity is never
    parked after the lead's arrival has already looked for parked activities."""
    return f"lead-ref:{ref}"


def identity_lock_key(kind: str, value: str) -> str:
    """The lock key for a contact identity (canonical email, E.164 phone). Whoever reads
    which leads hold an identity in order to add a lead to it (intake, an admin merge or
    split) holds this lock, so two transactions never both miss an identity and create two
    leads of one person."""
    return f"identity:{kind}:{value}"


def company_lock_key(company_key: str) -> str:
    """The lock key for a company key: fuzzy candidates under it are read and a new lead is
    added under it while it is held."""
    return f"company:{company_key}"


def make_base(schema: str) -> type[DeclarativeBase]:
    """A declarative base whose tables live in ``schema``."""

    class Base(DeclarativeBase):
        metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)

    return Base


def _json_dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int | None = None,
    pre_ping: bool = True,
    pool_timeout: float = 30.0,
    server_settings: dict[str, str] | None = None,
    connect_timeout: float | None = None,
    command_timeout: float | None = None,
) -> AsyncEngine:
    """``max_overflow`` connections beyond ``pool_size`` are opened when all are in use and
    closed when given back (default: as many again). ``pre_ping`` checks each pooled connection before use (one round trip per checkout);
    a path that handles a stale connection itself can do without. ``server_settings`` are
    PostgreSQL settings for every connection of the pool (e.g. ``lock_timeout``);
    ``pool_timeout`` bounds the wait for a free connection, ``connect_timeout`` the opening of
    one and ``command_timeout`` each statement (asyncpg's)."""
    connect_args: dict[str, object] = {}
    if server_settings:
        connect_args["server_settings"] = server_settings
    if connect_timeout is not None:
        connect_args["timeout"] = connect_timeout
    if command_timeout is not None:
        connect_args["command_timeout"] = command_timeout
    # JSONB columns (profiles, score breakdowns, explanations, outbox events) are encoded
    # and decoded on every write and read: orjson does it several times faster than json.
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_pre_ping=pre_ping,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        pool_timeout=pool_timeout,
        connect_args=connect_args,
    )


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), 3.0)
        return True
    except Exception:  # readiness answers, whatever the failure
        return False


def alembic_config(migrations_dir: Path, url: str, schema: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("leadflow.schema", schema)
    cfg.set_main_option(
        "file_template",
        "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s",
    )
    return cfg


def upgrade(migrations_dir: Path, url: str, schema: str, revision: str = "head") -> None:
    """Run a service's migrations to ``revision`` (blocking; call from a thread in async code)."""
    from alembic import command

    command.upgrade(alembic_config(migrations_dir, url, schema), revision)
