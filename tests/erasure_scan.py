"""Where a person still is: every text, varchar and json column of every schema searched."""

from __future__ import annotations

from sqlalchemy import text

from shared import db

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb")


async def where_they_are(database_url: str, needles: list[str]) -> list[str]:
    """Every column (schema.table.column) of every non-system schema, of a text, varchar or
    json type, holding one of ``needles`` (case-insensitive) in some row."""
    engine = db.create_engine(database_url, pool_size=1)
    patterns = [f"%{n.lower()}%" for n in needles]
    found = []
    try:
        async with engine.connect() as conn:
            columns = (
                await conn.execute(
                    text(
                        "SELECT c.table_schema, c.table_name, c.column_name"
                        " FROM information_schema.columns c JOIN information_schema.tables t"
                        " ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
                        " WHERE t.table_type = 'BASE TABLE'"
                        " AND c.table_schema <> ALL(:system) AND c.table_schema NOT LIKE 'pg_%'"
                        " AND c.data_type = ANY(:types)"
                    ),
                    {"system": list(SYSTEM_SCHEMAS), "types": list(TEXT_TYPES)},
                )
            ).all()
            assert {s for s, _, _ in columns} >= {"ingest", "router", "nurture", "delivery"}
            for schema, table, column in columns:
                hits = await conn.scalar(
                    text(
                        f'SELECT count(*) FROM "{schema}"."{table}"'
                        f' WHERE lower(CAST("{column}" AS text)) LIKE ANY(:patterns)'
                    ),
                    {"patterns": patterns},
                )
                if hits:
                    found.append(f"{schema}.{table}.{column}")
    finally:
        await engine.dispose()
    return found
