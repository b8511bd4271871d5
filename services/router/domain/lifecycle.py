"""After assignment, as values: a lead's routing status, its sales status and its lifecycle
stage, and what a reported sales status, a recycling or a rep leaving does to them.

Three things are kept apart:

- the **status** is who has the lead now: ``assigned`` (a rep works it, and it occupies
  the rep's capacity), ``queued`` (waits for a rep), ``nurture`` (marketing has it),
  ``opportunity`` (qualified: a rep works it as a deal, outside the lead cap),
  ``converted``, ``disqualified`` and ``recycled`` (back to marketing); ``merged`` when an
  admin found it to be another lead (its submissions, identities and activities moved there);
- the **sales status** is the last one a sales tool reported (working, qualified,
  disqualified, converted) or recycled, with the time it happened: a report older than the
  one in effect is recorded and changes nothing;
- the **lifecycle stage** is the funnel position (name, lead, mql, sql, opportunity,
  customer, recycled, disqualified). Scoring moves it forward only (decay never demotes),
  dispositions move it, recycling moves it back to ``recycled``; ``customer`` is final.

No I/O: the router loads a lead, calls these, and writes what they return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shared.dispositions import ReasonAction


class LeadStatus(StrEnum):
    new = "new"
    assigned = "assigned"
    queued = "queued"
    nurture = "nurture"
    opportunity = "opportunity"
    converted = "converted"
    disqualified = "disqualified"
    recycled = "recycled"
    merged = "merged"  # an admin merged it into another lead (``merged_into``): it is that one now
    erased = "erased"  # the person was erased (right to erasure): a tombstone, never routed


# Only an assigned lead occupies its rep (counts against the rep's capacity).
OCCUPYING = frozenset({LeadStatus.assigned})
# A new submission of these is recorded (merged), not routed: sales already has the deal.
CLOSED_TO_ROUTING = frozenset({LeadStatus.opportunity, LeadStatus.converted})


class Stage(StrEnum):
    name = "name"
    lead = "lead"
    mql = "mql"
    sql = "sql"
    opportunity = "opportunity"
    customer = "customer"
    recycled = "recycled"
    disqualified = "disqualified"


FUNNEL = (Stage.lead, Stage.mql, Stage.sql, Stage.opportunity, Stage.customer)  # in order
_RANK = {stage: i for i, stage in enumerate(FUNNEL)}


class SalesStatus(StrEnum):
    working = "working"
    qualified = "qualified"
    disqualified = "disqualified"
    converted = "converted"
    recycled = "recycled"


class Marketing(StrEnum):
    """What marketing (nurture) does after a change."""

    none = "none"
    remarket = "remarket"  # back on the remarket list
    suppress = "suppress"  # contact data invalid: never send again
    stop = "stop"  # closed, or with sales as a deal: end the sequences


def score_stage(score_stage: str, *, is_name: bool) -> Stage:
    """The stage a score alone puts a lead in (``score_stage``: none, mql or sql)."""
    if is_name:
        return Stage.name
    if score_stage == "sql":
        return Stage.sql
    if score_stage == "mql":
        return Stage.mql
    return Stage.lead


def scored_stage(current: Stage, scored: str, *, is_name: bool, reopen: bool = False) -> Stage:
    """The stage after a (re)score. Forward only along the funnel: a lower score (decay)
    never demotes. A purchased-list name stays a name until a real submission makes it a
    lead. A recycled or disqualified lead moves back into the funnel only when ``reopen``
    (it came back: a new submission, or engagement after recycling) and it scores MQL or
    better. Opportunity and customer are left to dispositions."""
    target = score_stage(scored, is_name=is_name)
    if current == Stage.name:
        return target
    if current in (Stage.recycled, Stage.disqualified):
        return target if reopen and target in (Stage.mql, Stage.sql) else current
    if current in (Stage.opportunity, Stage.customer):
        return current
    if target == Stage.name:  # a lead never becomes a name again
        return current
    return target if _RANK[target] > _RANK[current] else current


@dataclass(frozen=True)
class LeadView:
    """What the status rules read of a lead."""

    status: LeadStatus
    owner_rep_id: str | None
    sales_status: SalesStatus | None
    sales_status_at: datetime | None
    stage: Stage


@dataclass(frozen=True)
class Report:
    """A sales status a sales tool reported (an activity of kind working, qualified,
    disqualified or converted)."""

    status: SalesStatus
    occurred_at: datetime
    reported_by: str  # the source id
    rep_id: str | None = None
    reason: str | None = None
    action: ReasonAction | None = None  # what the reason does (disqualified only)
    duplicate_of: str | None = None


@dataclass(frozen=True)
class Change:
    """What a report, a recycling or a release does to a lead."""

    applied: bool  # False: recorded only (older than the status in effect, or final)
    status: LeadStatus
    sales_status: SalesStatus | None
    stage: Stage
    marketing: Marketing
    owner_rep_id: str | None  # the owner after the change
    released_rep_id: str | None  # whose capacity this frees
    touch: bool  # a rep's work: stops the first-touch clock, restarts the recycling clock
    recycled: bool
    detail: str


def occupies(status: LeadStatus | str) -> bool:
    return status in OCCUPYING


def apply_report(lead: LeadView, report: Report) -> Change:
    """The effect of one reported sales status. Reports are applied in ``occurred_at``
    order: one older than the status in effect is recorded and changes nothing (so a
    sales tool that names the lead by two ids, which travel on different partitions, cannot
    make an old status win). Equal times apply (the later report wins). A converted lead
    stays converted."""
    who = report.rep_id or report.reported_by
    if lead.sales_status_at is not None and report.occurred_at < lead.sales_status_at:
        return _unchanged(
            lead,
            f"{report.status} reported by {who} at {report.occurred_at.isoformat()} is older "
            f"than the status in effect ({lead.sales_status}, "
            f"{lead.sales_status_at.isoformat()}): recorded, not applied",
        )
    if lead.status == LeadStatus.converted and report.status != SalesStatus.converted:
        return _unchanged(lead, f"{report.status} reported by {who}: the lead is a customer")

    releases = lead.owner_rep_id if occupies(lead.status) else None
    if report.status == SalesStatus.working:
        return Change(
            applied=True, status=lead.status, sales_status=SalesStatus.working,
            stage=lead.stage, marketing=Marketing.none, owner_rep_id=lead.owner_rep_id,
            released_rep_id=None, touch=True, recycled=False,
            detail=f"working: {who} is in contact with the lead",
        )  # fmt: skip
    if report.status == SalesStatus.qualified:
        owner = lead.owner_rep_id or report.rep_id
        return Change(
            applied=True, status=LeadStatus.opportunity, sales_status=SalesStatus.qualified,
            stage=Stage.opportunity, marketing=Marketing.stop, owner_rep_id=owner,
            released_rep_id=releases, touch=True, recycled=False,
            detail=f"qualified by {who}: an opportunity, worked as a deal"
            + (f" (no longer counts against {releases}'s capacity)" if releases else ""),
        )  # fmt: skip
    if report.status == SalesStatus.converted:
        return Change(
            applied=True, status=LeadStatus.converted, sales_status=SalesStatus.converted,
            stage=Stage.customer, marketing=Marketing.stop, owner_rep_id=lead.owner_rep_id,
            released_rep_id=releases, touch=True, recycled=False,
            detail=f"converted (reported by {who}): a customer",
        )  # fmt: skip
    if report.status == SalesStatus.disqualified:
        return _disqualified(lead, report, who, releases)
    raise ValueError(f"{report.status} is not a status a sales tool reports")


def _disqualified(lead: LeadView, report: Report, who: str, releases: str | None) -> Change:
    action = report.action
    if action is None:
        raise ValueError(f"disqualified without a known reason ({report.reason!r})")
    reason = report.reason
    if action == ReasonAction.recycle:
        return Change(
            applied=True, status=LeadStatus.recycled, sales_status=SalesStatus.disqualified,
            stage=Stage.recycled, marketing=Marketing.remarket, owner_rep_id=None,
            released_rep_id=releases, touch=True, recycled=True,
            detail=f"disqualified by {who} for {reason} (not now): back to marketing's "
            "remarket list; engagement that scores it MQL again routes it again",
        )  # fmt: skip
    marketing = Marketing.suppress if action == ReasonAction.suppress else Marketing.stop
    detail = {
        ReasonAction.close: f"disqualified by {who} for {reason}: closed",
        ReasonAction.suppress: f"disqualified by {who} for {reason}: contact details are "
        "no longer valid, marketing is suppressed",
        ReasonAction.duplicate: f"disqualified by {who} as a duplicate of "
        f"{report.duplicate_of}: closed, the pair is on the dedupe review list",
    }[action]
    return Change(
        applied=True, status=LeadStatus.disqualified, sales_status=SalesStatus.disqualified,
        stage=Stage.disqualified, marketing=marketing, owner_rep_id=None,
        released_rep_id=releases, touch=True, recycled=False, detail=detail,
    )  # fmt: skip


def _unchanged(lead: LeadView, detail: str) -> Change:
    return Change(
        applied=False, status=lead.status, sales_status=lead.sales_status, stage=lead.stage,
        marketing=Marketing.none, owner_rep_id=lead.owner_rep_id, released_rep_id=None,
        touch=False, recycled=False, detail=detail,
    )  # fmt: skip


def recycle_idle(lead: LeadView, *, days: int) -> Change:
    """A lead its owner has not worked for ``days``: back to marketing."""
    if not occupies(lead.status):
        raise ValueError(f"only an assigned lead is recycled for inactivity, not {lead.status}")
    return Change(
        applied=True, status=LeadStatus.recycled, sales_status=SalesStatus.recycled,
        stage=Stage.recycled, marketing=Marketing.remarket, owner_rep_id=None,
        released_rep_id=lead.owner_rep_id, touch=False, recycled=True,
        detail=f"not worked by {lead.owner_rep_id} for {days} days (no touch, no status "
        "change): back to marketing's remarket list",
    )  # fmt: skip


def idle_since(last_worked_at: datetime | None, owned_since: datetime | None) -> datetime | None:
    """When the owner last worked the lead (else when they got it)."""
    if last_worked_at is None:
        return owned_since
    if owned_since is None:
        return last_worked_at
    return max(last_worked_at, owned_since)


def due_for_recycling(
    last_worked_at: datetime | None, owned_since: datetime | None, days: int, now: datetime
) -> bool:
    since = idle_since(last_worked_at, owned_since)
    return since is not None and now - since >= timedelta(days=days)


def away_too_long(
    out_of_office: tuple[tuple[datetime, datetime], ...], now: datetime, *, days: int
) -> tuple[datetime, datetime] | None:
    """The out-of-office period ``now`` falls in when it lasts longer than ``days``."""
    for start, end in out_of_office:
        if start <= now < end and end - start > timedelta(days=days):
            return start, end
    return None
