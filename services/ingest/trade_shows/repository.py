"""The only place that queries the trade-show import tables."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import ImportRow, TradeShowImport


class ImportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, import_id: uuid.UUID) -> TradeShowImport | None:
        return await self.session.get(TradeShowImport, import_id)

    async def rows(self, import_id: uuid.UUID, status: str | None = None) -> list[ImportRow]:
        query = (
            select(ImportRow).where(ImportRow.import_id == import_id).order_by(ImportRow.row_number)
        )
        if status:
            query = query.where(ImportRow.status == status)
        return list((await self.session.scalars(query)).all())

    async def add(self, record: TradeShowImport, rows: list[dict[str, Any]]) -> None:
        self.session.add(record)
        await self.session.flush()
        for start in range(0, len(rows), 5000):
            await self.session.execute(insert(ImportRow), rows[start : start + 5000])
