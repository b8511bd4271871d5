"""Each service's Alembic migrations build exactly the schema its models describe."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

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
