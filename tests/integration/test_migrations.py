"""Each service's Alembic migrations build exactly the schema its models describe."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from services.nurture.consent_file import load_consent_policy
from services.nurture.domain.consent import lead_country, marketing_allowed
from services.nurture.repository import NurtureRepository
from services.nurture.settings import CONFIG_DIR
from shared import db
from shared.stack.stack import SERVICES


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
async def test_models_and_migrations_agree(env, spec):
    models = importlib.import_module(f"services.{spec.name}.models")

    def include_name(name, type_, parent_names):
        if type_ == "schema":
            return name == spec.schema
        return True

    def diff(conn):
        context = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "include_name": include_name,
                "compare_type": True,
                "version_table_schema": spec.schema,
            },
        )
        return compare_metadata(context, models.Base.metadata)

    engine = db.create_engine(env.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            changes = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    changes = [
        c for c in changes if not (c[0] == "remove_table" and c[1].name == "alembic_version")
    ]
    assert changes == [], f"{spec.name}: models and migrations differ: {changes}"


async def test_leads_already_in_nurture_get_unknown_consent_the_setting_decides(stack):
    """Nurture kept no marketing_consent before revision 0004: its leads get consent "unknown"
    on email and SMS, and LEADFLOW_NURTURE_UNKNOWN_CONSENT decides where opt-in is needed."""
    name = f"t{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(stack.postgres.ensure_database, name)
    url = stack.postgres.url(name)
    nurture = next(s for s in SERVICES if s.name == "nurture")
    assert nurture.migrations is not None
    await asyncio.to_thread(db.upgrade, nurture.migrations, url, nurture.schema, "0002")
    lead_id, at = uuid.uuid4(), datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    engine = db.create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO nurture.lead (id, email, phone, timezone, timezone_source, "
                    "channel, is_name, list, with_sales, nurture_since, created_at, updated_at) "
                    "VALUES (:id, 'ada@example.com', '+493012345678', 'Europe/Berlin', 'phone', "
                    "'web', false, 'active', false, :at, :at, :at)"
                ),
                {"id": lead_id, "at": at},
            )
        await asyncio.to_thread(db.upgrade, nurture.migrations, url, nurture.schema)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT channel, state, source FROM nurture.consent WHERE lead_id = :id "
                        "ORDER BY channel"
                    ),
                    {"id": lead_id},
                )
            ).all()
            lead = (
                await conn.execute(
                    text("SELECT country, consent_skips FROM nurture.lead WHERE id = :id"),
                    {"id": lead_id},
                )
            ).one()
        assert [tuple(r) for r in rows] == [
            ("email", "unknown", "migration"),
            ("sms", "unknown", "migration"),
        ]
        assert tuple(lead) == (None, 0)
        async with db.sessionmaker(engine)() as session:
            consents = (await NurtureRepository(session).consents_of([lead_id]))[lead_id]
    finally:
        await engine.dispose()
    policy = load_consent_policy(CONFIG_DIR / "consent.yaml")
    country = lead_country(None, "+493012345678")  # no country kept: its phone's
    assert country == "DE"
    assert not marketing_allowed(policy, country, "email", consents, unknown="deny").allowed
    assert marketing_allowed(policy, country, "email", consents, unknown="allow").allowed
    assert marketing_allowed(policy, "US", "email", consents, unknown="deny").allowed


async def test_router_scoring_history_backfills_stored_versions_and_downgrades(stack):
    """Revision 0008 records every rules version stored scores name (a lead's, a decision's)
    with when scores of it were first and last stored, its file unknown; downgrading drops
    both tables."""
    from alembic import command

    name = f"t{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(stack.postgres.ensure_database, name)
    url = stack.postgres.url(name)
    router = next(s for s in SERVICES if s.name == "router")
    assert router.migrations is not None
    await asyncio.to_thread(db.upgrade, router.migrations, url, router.schema, "0007")
    day = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    lead_a, lead_b = uuid.uuid4(), uuid.uuid4()
    engine = db.create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            for lead_id, version, at in (
                (lead_a, "aaaaaaaaaaaa", day + timedelta(days=2)),
                (lead_b, "bbbbbbbbbbbb", day + timedelta(days=5)),
            ):
                await conn.execute(
                    text(
                        "INSERT INTO router.lead (id, status, is_name, profile, source_id, "
                        "channel, received_at, score, temperature, stage, score_breakdown, "
                        "created_at, updated_at, stage_entered_at) VALUES (:id, 'assigned', "
                        "false, '{}', 'web', 'web', :at, 10, 'warm', 'mql', jsonb_build_object("
                        "'total', 10, 'rules_version', CAST(:v AS text)), :at, :at, :at)"
                    ),
                    {"id": lead_id, "at": at, "v": version},
                )
            # decisions: lead a was first scored with version a earlier, lead b with both;
            # an erased lead's score is {} and names no version
            for lead_id, version, at in (
                (lead_a, "aaaaaaaaaaaa", day),
                (lead_b, "aaaaaaaaaaaa", day + timedelta(days=3)),
                (lead_b, "bbbbbbbbbbbb", day + timedelta(days=4)),
                (lead_b, None, day + timedelta(days=9)),
            ):
                await conn.execute(
                    text(
                        "INSERT INTO router.assignment (id, lead_id, outcome, kind, reason, "
                        "explanation, score, cause_event_id, decided_at) VALUES (:id, :lead, "
                        "'assigned', 'initial', 'r', '{}', CASE WHEN CAST(:v AS text) IS NULL "
                        "THEN '{}'::jsonb ELSE jsonb_build_object('rules_version', "
                        "CAST(:v AS text)) END, :cause, :at)"
                    ),
                    {"id": uuid.uuid4(), "lead": lead_id, "v": version, "cause": str(at), "at": at},
                )
        await asyncio.to_thread(db.upgrade, router.migrations, url, router.schema)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT version, recorded_from, content, file_name, criteria_count, "
                        "thresholds, first_loaded_at, last_loaded_at FROM router.scoring_version "
                        "ORDER BY version"
                    )
                )
            ).all()
        assert [tuple(r) for r in rows] == [
            ("aaaaaaaaaaaa", "scores", None, None, None, None, day, day + timedelta(days=3)),
            (
                "bbbbbbbbbbbb", "scores", None, None, None, None,
                day + timedelta(days=4), day + timedelta(days=5),
            ),
        ]  # fmt: skip
        cfg = db.alembic_config(router.migrations, url, router.schema)
        await asyncio.to_thread(command.downgrade, cfg, "0007")
        async with engine.connect() as conn:
            left = (
                await conn.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                        "'router' AND table_name LIKE 'scoring_%'"
                    )
                )
            ).all()
            leads = (await conn.execute(text("SELECT count(*) FROM router.lead"))).scalar_one()
        assert left == [] and leads == 2
        await asyncio.to_thread(db.upgrade, router.migrations, url, router.schema)
    finally:
        await engine.dispose()


async def test_router_lead_search_indexes_replace_the_owner_index_and_downgrade(stack):
    """Revision 0009 builds the search indexes and drops the owner-only index the owner-first
    one covers; downgrading to 0008 drops the search indexes and brings the owner index back."""
    from alembic import command

    name = f"t{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(stack.postgres.ensure_database, name)
    url = stack.postgres.url(name)
    router = next(s for s in SERVICES if s.name == "router")
    assert router.migrations is not None
    engine = db.create_engine(url, pool_size=1)

    async def indexes() -> set[str]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = 'router' "
                    "AND tablename = 'lead' AND indexname LIKE 'ix_router_lead_%'"
                )
            )
            return {r[0] for r in rows}

    try:
        await asyncio.to_thread(db.upgrade, router.migrations, url, router.schema)
        at_head = await indexes()
        assert "ix_router_lead_owner_rep_id" not in at_head
        assert {"ix_router_lead_owner_received", "ix_router_lead_q_email"} <= at_head
        cfg = db.alembic_config(router.migrations, url, router.schema)
        await asyncio.to_thread(command.downgrade, cfg, "0008")
        before = await indexes()
        assert "ix_router_lead_owner_rep_id" in before
        assert not any(i.startswith("ix_router_lead_q_") for i in before)
        await asyncio.to_thread(db.upgrade, router.migrations, url, router.schema)
        assert await indexes() == at_head
    finally:
        await engine.dispose()
