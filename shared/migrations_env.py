"""The body of every service's Alembic ``env.py`` (online, async, one schema per service)."""

from __future__ import annotations

import asyncio

from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def run(target_metadata: MetaData) -> None:
    from alembic import context

    config = context.config
    schema = config.get_main_option("leadflow.schema")
    url = config.get_main_option("sqlalchemy.url")
    assert schema and url, "alembic config must carry leadflow.schema and sqlalchemy.url"

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=False,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.commit()
            await conn.run_sync(do_run)
            await conn.commit()
        await engine.dispose()

    asyncio.run(main())
