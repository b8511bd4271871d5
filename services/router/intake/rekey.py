"""Recompute every lead's company keys with today's rules (``leadflow rekey-companies``).

Fuzzy candidates are found under a lead's company keys. When the rules that make them change
(registrable domains from the public suffix list, legal forms folded, the name key beside a
domain), leads stored before keep their old keys and are not found under the new ones until
they are recomputed. This walks the leads in id order, a batch per transaction, and updates
the keys that differ, holding the company locks of the old and new keys as intake does, so
an arrival never looks for candidates while a lead moves between keys. It can be stopped and
run again at any time: a lead whose keys are already right is left alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.domain.intake import profile_of
from services.router.domain.matching import company_keys
from shared.db import company_lock_key, lock_keys


@dataclass
class RekeyResult:
    seen: int = 0
    changed: int = 0


async def count_leads(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM router.lead")) or 0)


async def rekey_companies(
    engine: AsyncEngine,
    *,
    batch: int = 1000,
    progress: Callable[[int, int], None] = lambda seen, changed: None,
) -> RekeyResult:
    """Recompute ``company_key`` and ``company_name_key`` of every lead not merged away."""
    result = RekeyResult()
    after = uuid.UUID(int=0)
    while True:
        async with engine.begin() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT id, profile, company_key, company_name_key FROM router.lead"
                        " WHERE id > :after AND status <> 'merged' ORDER BY id LIMIT :n"
                    ),
                    {"after": after, "n": batch},
                )
            ).all()
            if not rows:
                return result
            after = rows[-1][0]
            changes = []
            for lead_id, profile, key, name_key in rows:
                if profile is None:
                    continue
                new = company_keys(
                    profile_of(profile, source_id=None, channel=None, purchased_list=False)
                )
                if new != (key, name_key):
                    changes.append((lead_id, key, name_key, *new))
            if changes:
                keys = {k for c in changes for k in c[1:] if k is not None}
                await lock_keys(conn, *(company_lock_key(k) for k in keys))  # type: ignore[arg-type]
                await conn.execute(
                    text(
                        "UPDATE router.lead SET company_key = :key, company_name_key = :name_key"
                        " WHERE id = :id AND status <> 'merged'"
                    ),
                    [{"id": c[0], "key": c[3], "name_key": c[4]} for c in changes],
                )
            result.seen += len(rows)
            result.changed += len(changes)
        progress(result.seen, result.changed)
