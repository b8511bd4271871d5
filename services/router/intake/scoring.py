"""Re-scoring a lead from its merged fields and activities (shared by intake and activities)."""

from __future__ import annotations

from datetime import datetime

from services.router.context import RouterContext
from services.router.convert import activity_points, lead_profile
from services.router.domain.scoring import score
from services.router.models import Lead
from services.router.repository import RouterRepository


async def rescore(
    ctx: RouterContext, repo: RouterRepository, lead: Lead, now: datetime, *, new: bool = False
) -> None:
    """Score from the merged fields and every activity (a brand-new lead has none)."""
    activities = [] if new else activity_points(await repo.activities(lead.id))
    result = score(lead_profile(lead), activities, ctx.scoring.rules, now)
    lead.score = result.total
    lead.temperature = result.temperature
    lead.stage = result.stage
    lead.score_breakdown = result.to_dict()
