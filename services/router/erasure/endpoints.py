"""The erasure admin API (right to erasure): erase a lead by id or a person by email or
phone; read a tombstone. An erased lead's ``GET /v1/admin/leads/{id}`` shows its tombstone."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.admin.endpoints import get_context, read
from services.router.audit import record_audit
from services.router.context import RouterContext
from services.router.domain.dedupe import is_role_address
from services.router.erasure import responses as R
from services.router.erasure.repository import ErasureRepository
from services.router.erasure.schemas import ErasureRequest
from services.router.erasure.service import LeadNotFound, Requester, erase_lead, tombstone_out
from services.router.models import Erasure
from shared.auth import Principal
from shared.credentials import AdminPrincipal
from shared.domain.erasure import identity_hash, matching_form
from shared.http import ApiError, invalid_field
from shared.openapi import ok

router = APIRouter(prefix="/v1/admin", tags=["erasure"])


async def _erase(
    session: AsyncSession, key: bytes, ref: uuid.UUID, principal: Principal, ctx: RouterContext
) -> tuple[Erasure, bool]:
    """Erase under the caller's token name, recorded in the audit trail in the same
    transaction (ids and counts only: what was erased is not repeated there)."""
    tombstone, created = await erase_lead(session, key, ref, Requester(principal.name), ctx.clock())
    if created:
        await record_audit(
            session, principal, "lead.erased", "lead", tombstone.lead_id,
            {"erasure_id": str(tombstone.id), "requested_as": str(ref), "counts": tombstone.counts},
        )  # fmt: skip
    return tombstone, created


@router.post(
    "/leads/{lead_id}/erase",
    status_code=202,
    summary="Erase the person behind a lead (a lead, merged-away lead or submission id)",
    responses={
        202: ok(
            R.TOMBSTONE,
            "Erased now; leads.erasure.v1 is on its way to nurture, ingest and sales tools",
        ),
        200: ok(R.TOMBSTONE, "Erased before: the same tombstone, nothing new happens"),
        **R.ERASE_LEAD,
    },
)
async def erase(
    lead_id: uuid.UUID,
    response: Response,
    principal: AdminPrincipal,
    ctx: RouterContext = Depends(get_context),
) -> dict[str, Any]:
    key = ctx.settings.effective_erasure_hash_key()
    try:
        async with ctx.sessions.begin() as session:
            tombstone, created = await _erase(session, key, lead_id, principal, ctx)
            out = tombstone_out(tombstone)
    except LeadNotFound:
        raise ApiError(404, "not_found", f"no lead {lead_id}") from None
    if created:
        ctx.relay.notify()
    else:
        response.status_code = 200
    return out


@router.post(
    "/erasures",
    status_code=202,
    summary="Erase every lead holding an email address or phone number",
    responses={
        202: ok(R.ERASURES, "Erased now (some or all)"),
        200: ok(R.ERASURES, "All erased before: the same tombstones, nothing new happens"),
        **R.ERASE_IDENTITY,
    },
)
async def erase_identity(
    body: ErasureRequest,
    response: Response,
    principal: AdminPrincipal,
    ctx: RouterContext = Depends(get_context),
) -> dict[str, Any]:
    kind = "email" if body.email is not None else "phone"
    raw = body.email if body.email is not None else body.phone
    assert raw is not None
    value = matching_form(kind, raw)
    if value is None:
        raise invalid_field(
            kind, f"not a valid {'email address' if kind == 'email' else 'phone number'}"
        )
    key = ctx.settings.effective_erasure_hash_key()
    created_any = False
    async with ctx.sessions.begin() as session:
        repo = ErasureRepository(session)
        tombstones = {
            t.id: t for t in await repo.tombstones_for_hashes([identity_hash(key, kind, value)])
        }
        holders = await repo.leads_for_identity(kind, value)
        shared = len(holders) > 1 or bool(await repo.held_by_others([(kind, value)], holders))
        if (shared or (kind == "email" and is_role_address(value))) and not body.all_holders:
            raise ApiError(
                409,
                "identity_shared",
                f"this {kind} is held by {len(holders)} leads or marked shared (a switchboard, a "
                "role address): erase the person by lead id, or confirm with all_holders=true",
                errors=[
                    {"field": kind, "message": f"held by lead {h}", "type": "identity_shared"}
                    for h in holders
                ],
            )
        for lead_id in holders:
            tombstone, created = await _erase(session, key, lead_id, principal, ctx)
            tombstones[tombstone.id] = tombstone
            created_any |= created
        out = [tombstone_out(t) for t in sorted(tombstones.values(), key=lambda t: t.requested_at)]
    if not out:
        raise ApiError(404, "not_found", f"no lead holds this {kind}")
    if created_any:
        ctx.relay.notify()
    else:
        response.status_code = 200
    return {"erasures": out}


@router.get(
    "/erasures/{erasure_id}",
    dependencies=[Depends(read)],
    summary="One erasure's tombstone",
    responses={200: ok(R.TOMBSTONE), **R.GET_ERASURE},
)
async def get_erasure(
    erasure_id: uuid.UUID, ctx: RouterContext = Depends(get_context)
) -> dict[str, Any]:
    async with ctx.sessions() as session:
        tombstone = await ErasureRepository(session).tombstone(erasure_id)
    if tombstone is None:
        raise ApiError(404, "not_found", f"no erasure {erasure_id}")
    return tombstone_out(tombstone)
