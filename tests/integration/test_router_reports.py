"""Funnel KPIs and reactivation segments from the router's database: the router app on the
test's own PostgreSQL database, leads and their stage histories inserted as rows, time from a
manual clock."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.router.app import create_app
from services.router.domain.segments import EXPORT_FIELDS
from services.router.models import Lead, LeadStage
from services.router.reports import endpoints as reports
from services.router.runtime import RouterRuntime
from services.router.settings import RouterSettings
from shared import db
from tests.clock import ManualClock

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ADMIN = {"Authorization": "Bearer leadflow-dev-admin-token"}
DAY = timedelta(days=1)


def nov(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


@dataclass
class Fixture:
    """A lead and the stages it entered, in order: (stage, entered_at)."""

    name: str
    path: list[tuple[str, datetime]]
    source: str = "website"
    channel: str = "web"
    campaign: str | None = None
    team: str | None = None
    reason: str | None = None
    last_activity_at: datetime | None = None
    form_id: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    company: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def email(self) -> str:
        return f"{self.name.lower()}@{self.source}.example"

    def rows(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        first, (stage, entered) = self.path[0][1], self.path[-1]
        profile: dict[str, Any] = {"email": self.email, "country": "DE", "custom": self.custom}
        for key, value in (
            ("campaign", self.campaign),
            ("form_id", self.form_id),
            ("company", self.company),
        ):
            if value is not None:
                profile[key] = value
        lead = {
            "id": self.id, "status": "nurture", "is_name": self.path[0][0] == "name",
            "profile": profile, "first_name": self.name, "last_name": "Test",
            "source_id": self.source, "channel": self.channel, "received_at": first, "score": 0,
            "temperature": "cold", "stage": "mql", "score_breakdown": {}, "team_id": self.team,
            "owner_rep_id": "rep-a" if self.team else None,
            "last_activity_at": self.last_activity_at, "created_at": first, "updated_at": entered,
            "lifecycle_stage": stage, "stage_entered_at": entered,
            "disqualify_reason": self.reason,
        }  # fmt: skip
        history = []
        for i, (stage_i, at) in enumerate(self.path):
            history.append(
                {
                    "id": uuid.uuid4(),
                    "lead_id": self.id,
                    "stage": stage_i,
                    "previous_stage": self.path[i - 1][0] if i else None,
                    "entered_at": at,
                    "left_at": self.path[i + 1][1] if i + 1 < len(self.path) else None,
                    "cause": "test",
                }
            )
        return lead, history


# The funnel's cohort for [Nov 1, Dec 1), and the leads around it.
FUNNEL = [
    Fixture("L1", [("lead", nov(2)), ("mql", nov(3)), ("sql", nov(5)), ("opportunity", nov(10)),
                   ("customer", nov(20))], campaign="spring", team="core"),
    Fixture("L2", [("lead", nov(4)), ("mql", nov(4, 2)), ("disqualified", nov(6))],
            campaign="spring", team="core", reason="no_budget"),
    Fixture("L3", [("sql", nov(7)), ("recycled", nov(8))]),  # arrived straight at sql
    Fixture("L4", [("lead", nov(10))], source="expo", channel="trade_show", campaign="expo-2026",
            team="core"),
    Fixture("L5", [("name", nov(12)), ("lead", nov(15)), ("mql", nov(16))], source="lists",
            channel="purchased_list"),
    Fixture("L6", [("name", nov(12))], source="lists", channel="purchased_list"),
    Fixture("L7", [("lead", nov(20)), ("disqualified", nov(21))], source="expo",
            channel="trade_show", campaign="expo-2026"),
    Fixture("L10", [("lead", nov(1))]),  # at `from` exactly: in
    # first entry before the window, though it moved on inside it: not in the cohort
    Fixture("L8", [("lead", datetime(2026, 10, 20, tzinfo=UTC)), ("mql", nov(5))]),
    Fixture("L9", [("lead", datetime(2026, 12, 1, tzinfo=UTC))]),  # at `to` exactly: out
]  # fmt: skip

# Reactivation: last seen (last activity, else arrival) at every distance from NOW.
SEGMENTED = [
    Fixture("O1", [("lead", datetime(2025, 6, 1, tzinfo=UTC))], campaign="spring",
            custom={"product_interest": "crm"}, company="=HYPERLINK(\"http://x\")"),
    Fixture("O2", [("lead", datetime(2025, 1, 1, tzinfo=UTC)), ("recycled", datetime(2025, 3, 1, tzinfo=UTC))],
            last_activity_at=datetime(2026, 7, 1, tzinfo=UTC), custom={"product_interest": "crm"}),
    Fixture("O3", [("lead", datetime(2026, 3, 1, tzinfo=UTC)), ("disqualified", datetime(2026, 3, 2, tzinfo=UTC))],
            form_id="contact-us", reason="no_budget"),
    Fixture("O4", [("lead", NOW - timedelta(days=90))]),  # 90 days exactly: 3 to 12 months
    Fixture("O5", [("lead", NOW - timedelta(days=90) + timedelta(seconds=1))]),  # still under 3
    Fixture("O6", [("lead", NOW - timedelta(days=365))], custom={"product_interest": 7}),
]  # fmt: skip
SEGMENT_OF = {"O1": "over_1_year", "O2": "3_to_12_months", "O3": "3_to_12_months",
              "O4": "3_to_12_months", "O5": "under_3_months", "O6": "over_1_year"}  # fmt: skip

# Many leads to page through: a reactivation list (campaign "winback", over a year silent)
# in two stages, and look-alikes that one filter each leaves out.
WINBACK = [
    Fixture(f"W{n}", [("lead", datetime(2024, 1, 1, tzinfo=UTC) + n * DAY)]
            + ([("recycled", datetime(2024, 6, 1, tzinfo=UTC))] if n % 3 == 0 else []),
            campaign="winback", custom={"product_interest": "erp" if n % 2 else "crm"})
    for n in range(23)
] + [
    Fixture("X1", [("lead", datetime(2024, 1, 1, tzinfo=UTC))], campaign="winback",
            last_activity_at=NOW - 10 * DAY),  # active lately
    Fixture("X2", [("lead", datetime(2024, 1, 1, tzinfo=UTC)), ("customer", datetime(2024, 2, 1, tzinfo=UTC))],
            campaign="winback"),  # a customer
    Fixture("X3", [("lead", datetime(2024, 1, 1, tzinfo=UTC))], campaign="spring"),
]  # fmt: skip
ALL = FUNNEL + SEGMENTED + WINBACK
BY_NAME = {f.name: f for f in ALL}


async def insert(database_url: str, fixtures: list[Fixture]) -> None:
    leads, history = [], []
    for f in fixtures:
        lead, stages = f.rows()
        leads.append(lead)
        history.extend(stages)
    engine = db.create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(Lead.__table__.insert(), leads)
            await conn.execute(LeadStage.__table__.insert(), history)
    finally:
        await engine.dispose()


@pytest.fixture
async def api(env):
    await insert(env.database_url, ALL)
    clock = ManualClock(NOW)
    settings = RouterSettings(**env.settings_kwargs())
    failures: list[BaseException] = []
    runtime = RouterRuntime(
        settings, clock=clock, on_fatal=failures.append, consume=False, schedule=False
    )
    ctx = await runtime.start()
    app = create_app(settings, runtime)
    app.state.router = ctx
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router")
    yield client, clock
    await client.aclose()
    await runtime.stop()
    assert not failures


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    r = await client.get(path, params=params, headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()


def stages(group: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        s["stage"]: (s["reached"], s["rate_from_previous"], s["rate_from_cohort"])
        for s in group["stages"]
    }


def side(group: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["stage"]: s for s in group["side_stages"]}


NOVEMBER = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}


# --- funnel --------------------------------------------------------------------------------


async def test_funnel_counts_rates_and_medians_of_the_cohort(api):
    client, _ = api
    body = await get(client, "/v1/admin/funnel", **NOVEMBER)
    assert body["from"] == "2026-11-01T00:00:00Z" and body["by"] is None
    assert len(body["groups"]) == 1 and body["groups"][0] == body["total"]
    total = body["total"]
    assert total["key"] is None and total["cohort"] == 8  # L1-L7 and L10
    assert stages(total) == {
        "lead": (7, 0.875, 0.875),  # all but the name L6 (L3 skipped to sql: counted)
        "mql": (4, 0.5714, 0.5),  # L1, L2, L3, L5
        "sql": (2, 0.5, 0.25),  # L1, L3
        "opportunity": (1, 0.5, 0.125),
        "customer": (1, 1.0, 0.125),
    }
    medians = {s["stage"]: s["median_seconds_to_reach"] for s in total["stages"]}
    assert medians == {
        "lead": 0.0,  # L5 took 3 days from name to lead, the six others were leads at once
        "mql": (2 * 3600 + 86400) / 2,  # of 0 (L3), 2 h (L2), 1 day (L1), 4 days (L5)
        "sql": 3 * 86400 / 2,  # of 0 (L3) and 3 days (L1)
        "opportunity": 8 * 86400.0,
        "customer": 18 * 86400.0,
    }
    current = {s["stage"]: s["current"] for s in total["stages"]}
    assert current == {"lead": 2, "mql": 1, "sql": 0, "opportunity": 0, "customer": 1}
    sides = side(total)
    assert (sides["name"]["entered"], sides["name"]["current"]) == (2, 1)
    assert (sides["recycled"]["entered"], sides["recycled"]["rate_from_cohort"]) == (1, 0.125)
    assert sides["disqualified"]["entered"] == 2
    assert sides["disqualified"]["by_reason"] == {"(none)": 1, "no_budget": 1}


async def test_funnel_groups_by_source_channel_campaign_and_team(api):
    client, _ = api
    body = await get(client, "/v1/admin/funnel", by="source", **NOVEMBER)
    assert body["total"]["cohort"] == 8
    groups = {g["key"]: g for g in body["groups"]}
    assert [g["key"] for g in body["groups"]] == ["website", "expo", "lists"]  # size, then key
    assert [groups[k]["cohort"] for k in ("website", "expo", "lists")] == [4, 2, 2]
    assert stages(groups["website"]) == {
        "lead": (4, 1.0, 1.0),
        "mql": (3, 0.75, 0.75),
        "sql": (2, 0.6667, 0.5),
        "opportunity": (1, 0.5, 0.25),
        "customer": (1, 1.0, 0.25),
    }
    assert stages(groups["expo"])["mql"] == (0, 0.0, 0.0)
    assert stages(groups["expo"])["sql"] == (0, None, 0.0)  # nothing to convert from
    assert side(groups["expo"])["disqualified"]["by_reason"] == {"(none)": 1}
    assert side(groups["lists"])["name"]["entered"] == 2

    cohorts = {}
    for by in ("channel", "campaign", "team"):
        body = await get(client, "/v1/admin/funnel", by=by, **NOVEMBER)
        cohorts[by] = {g["key"]: g["cohort"] for g in body["groups"]}
        assert body["total"]["cohort"] == 8
    assert cohorts == {
        "channel": {"web": 4, "trade_show": 2, "purchased_list": 2},
        "campaign": {"spring": 2, "expo-2026": 2, "(none)": 4},
        "team": {"core": 3, "(none)": 5},
    }


async def test_funnel_window_is_half_open_and_defaults_to_30_days_to_now(api):
    client, clock = api
    # from with an offset: 01:00 in UTC+1 is midnight UTC (L10, exactly at from, is in)
    body = await get(
        client, "/v1/admin/funnel", **{"from": "2026-11-01T01:00:00+01:00", "to": NOVEMBER["to"]}
    )
    assert body["total"]["cohort"] == 8
    body = await get(
        client, "/v1/admin/funnel", **{"from": "2026-11-10T00:00:00Z", "to": "2026-11-13T00:00:00Z"}
    )
    total = body["total"]
    assert total["cohort"] == 3  # L4, L5, L6
    # ever reached counts until now: L5 became a lead and an MQL after the window
    assert stages(total)["lead"] == (2, 0.6667, 0.6667)
    assert stages(total)["mql"] == (1, 0.5, 0.3333)
    # default: the 30 days before the clock's now: L9 (Dec 1) in, L10 (Nov 1, 00:00) out
    body = await get(client, "/v1/admin/funnel")
    assert body["to"] == "2026-12-01T12:00:00Z" and body["from"] == "2026-11-01T12:00:00Z"
    assert body["total"]["cohort"] == 8
    assert stages(body["total"])["lead"][0] == 7  # L1-L5, L7, L9
    clock.advance(days=365)
    assert (await get(client, "/v1/admin/funnel"))["total"]["cohort"] == 0
    empty = await get(client, "/v1/admin/funnel", by="team")
    assert empty["groups"] == [] and empty["total"]["stages"][0]["rate_from_cohort"] is None


BAD_FUNNEL = [
    ({"from": "2026-11-01T00:00:00"}, "from"),  # no offset
    ({"from": "1 November"}, "from"),
    ({"from": "0001-01-01T00:00:00+14:00"}, "from"),  # before year 1 in UTC
    ({"to": "0001-01-05T00:00:00Z"}, "to"),  # no 30 days before it
    ({"to": "2026-13-01T00:00:00Z"}, "to"),
    ({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "to"),
    ({"by": "country"}, "by"),
    ({"grup": "team"}, "grup"),  # a typo is an error, not the ungrouped funnel
]


async def assert_422(client: httpx.AsyncClient, path: str, params: dict, field: str) -> None:
    r = await client.get(path, params=params, headers=ADMIN)
    assert r.status_code == 422, (path, params, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == [field], (path, params, r.text)


async def test_funnel_bad_parameters_are_422_naming_them(api):
    client, _ = api
    for params, name in BAD_FUNNEL:
        await assert_422(client, "/v1/admin/funnel", params, name)


async def test_reports_need_the_admin_token(api):
    client, _ = api
    for path in ("/v1/admin/funnel", "/v1/admin/segments?by=stage", "/v1/admin/segments/leads"):
        assert (await client.get(path)).status_code == 401
        bad = {"Authorization": "Bearer nope"}
        assert (await client.get(path, headers=bad)).status_code == 401


# --- segments ------------------------------------------------------------------------------


def expected_segment(f: Fixture) -> str:
    if f.name in SEGMENT_OF:
        return SEGMENT_OF[f.name]
    seen = f.last_activity_at or f.path[0][1]
    return "under_3_months" if NOW - seen < 90 * DAY else (
        "3_to_12_months" if NOW - seen < 365 * DAY else "over_1_year"
    )  # fmt: skip


async def test_segment_counts_by_inactivity_stage_and_interest(api):
    client, _ = api
    body = await get(client, "/v1/admin/segments", by="inactivity")
    assert body["as_of"] == "2026-12-01T12:00:00Z" and body["total"] == len(ALL)
    expected = {s: sum(expected_segment(f) == s for f in ALL) for s in
                ("under_3_months", "3_to_12_months", "over_1_year")}  # fmt: skip
    assert [(s["value"], s["count"]) for s in body["segments"]] == list(expected.items())

    body = await get(client, "/v1/admin/segments", by="stage")
    counts = {s["value"]: s["count"] for s in body["segments"]}
    assert list(counts)[:2] == ["name", "lead"] and counts["opportunity"] == 0
    assert counts["customer"] == 2 and counts["disqualified"] == 3 and counts["name"] == 1

    body = await get(client, "/v1/admin/segments", by="campaign")
    counts = {s["value"]: s["count"] for s in body["segments"]}
    assert counts["winback"] == 25 and counts["spring"] == 4 and counts["expo-2026"] == 2
    assert counts["(none)"] == len(ALL) - 31
    assert body["segments"][0]["value"] == "winback"  # largest first

    body = await get(client, "/v1/admin/segments", by="form")
    assert {s["value"]: s["count"] for s in body["segments"]} == {
        "contact-us": 1,
        "(none)": len(ALL) - 1,
    }
    # a custom field, narrowed by the export's filters
    body = await get(
        client, "/v1/admin/segments", by="custom.product_interest", inactivity="over_1_year"
    )
    assert body["by"] == "custom.product_interest"
    counts = {s["value"]: s["count"] for s in body["segments"]}
    assert counts == {"crm": 13, "erp": 11, "7": 1, "(none)": 2}  # W (12 + O1), W, O6, X2/X3


async def page_all(client, limit, advance=None, **filters) -> list[dict[str, Any]]:
    leads, cursor, pages = [], None, 0
    while True:
        params = {**filters, "limit": limit, **({"cursor": cursor} if cursor else {})}
        body = await get(client, "/v1/admin/segments/leads", **params)
        assert len(body["leads"]) <= limit
        leads.extend(body["leads"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return leads
        assert len(body["leads"]) == limit
        if advance:
            advance()
        assert pages < 50


async def test_segment_export_pages_and_streams_every_matching_lead_once(api, monkeypatch):
    client, clock = api
    filters = {"inactivity": "over_1_year", "campaign": "winback", "stage": ["lead", "recycled"]}
    expected = {str(f.id) for f in WINBACK if f.name.startswith("W")}
    assert len(expected) == 23

    leads = await page_all(client, 5, **filters)
    ids = [lead["id"] for lead in leads]
    assert len(ids) == len(set(ids)) == 23 and set(ids) == expected
    assert ids == sorted(ids, key=uuid.UUID)  # keyset order
    w3 = next(lead for lead in leads if lead["id"] == str(BY_NAME["W3"].id))
    assert w3 == {
        "id": str(BY_NAME["W3"].id), "stage": "recycled", "status": "nurture", "owner": None,
        "team": None, "source": "website", "channel": "web",
        "received_at": "2024-01-04T00:00:00Z", "last_activity_at": None,
        "email": "w3@website.example", "name": "W3 Test", "company": None, "country": "DE",
        "campaign": "winback", "segment": "over_1_year",
    }  # fmt: skip

    # a page of exactly the rest ends with no cursor
    assert len(await page_all(client, 23, **filters)) == 23

    # segments hold still while paging: the first page's now, whatever the clock does
    under = await page_all(client, 1, advance=lambda: clock.advance(hours=1),
                           inactivity="under_3_months")  # fmt: skip
    assert {lead["id"] for lead in under} == {
        str(f.id) for f in ALL if expected_segment(f) == "under_3_months"
    }
    assert str(BY_NAME["O5"].id) in {lead["id"] for lead in under}
    clock.now = NOW

    # CSV: the whole set, read in chunks (made small here to cross chunk edges)
    monkeypatch.setattr(reports, "CSV_CHUNK_ROWS", 4)
    r = await client.get(
        "/v1/admin/segments/leads", params={**filters, "format": "csv"}, headers=ADMIN
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="leads-20261201T120000Z.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == list(EXPORT_FIELDS)
    assert [row["id"] for row in rows] == ids
    assert rows[3]["email"] == leads[3]["email"] and rows[3]["last_activity_at"] == ""

    # a formula from a web form is defused; an empty result is a header alone
    r = await client.get(
        "/v1/admin/segments/leads",
        params={"custom.product_interest": "crm", "inactivity": "over_1_year",
                "campaign": "spring", "format": "csv"},
        headers=ADMIN,
    )  # fmt: skip
    (row,) = list(csv.DictReader(io.StringIO(r.text)))
    assert row["id"] == str(BY_NAME["O1"].id) and row["company"] == '\'=HYPERLINK("http://x")'
    r = await client.get(
        "/v1/admin/segments/leads", params={"campaign": "nothing", "format": "csv"}, headers=ADMIN
    )
    assert r.text.strip() == ",".join(EXPORT_FIELDS)


async def test_segment_filters_combine_and_none_selects_leads_without_a_value(api):
    client, _ = api
    leads = await page_all(client, 100, form="(none)", stage="disqualified")
    assert {lead["id"] for lead in leads} == {str(BY_NAME[n].id) for n in ("L2", "L7")}
    leads = await page_all(client, 100, form="contact-us")
    assert [lead["id"] for lead in leads] == [str(BY_NAME["O3"].id)]
    leads = await page_all(client, 100, **{"custom.product_interest": "7"})
    assert [lead["segment"] for lead in leads] == ["over_1_year"]  # O6: 365 days exactly


BAD_SEGMENTS = [
    ("/v1/admin/segments", {}, "by"),
    ("/v1/admin/segments", {"by": "custom.plan"}, "by"),  # not a configured field
    ("/v1/admin/segments", {"by": "country"}, "by"),
    ("/v1/admin/segments", {"by": "stage", "stage": "prospect"}, "stage"),
    ("/v1/admin/segments/leads", {"inactivity": "2_years"}, "inactivity"),
    ("/v1/admin/segments/leads", {"campain": "winback"}, "campain"),
    ("/v1/admin/segments/leads", {"custom.plan": "pro"}, "custom.plan"),
    ("/v1/admin/segments/leads", {"limit": 0}, "limit"),
    ("/v1/admin/segments/leads", {"limit": 1001}, "limit"),
    ("/v1/admin/segments/leads", {"format": "xml"}, "format"),
    ("/v1/admin/segments/leads", {"format": "csv", "limit": 5}, "limit"),
    ("/v1/admin/segments/leads", {"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
]


async def test_segment_bad_parameters_are_422_naming_them(api):
    client, _ = api
    for path, params, name in BAD_SEGMENTS:
        await assert_422(client, path, params, name)


async def test_a_cursor_is_refused_with_other_filters(api):
    client, _ = api
    first = await get(client, "/v1/admin/segments/leads", campaign="winback", limit=2)
    r = await client.get(
        "/v1/admin/segments/leads",
        params={"campaign": "spring", "limit": 2, "cursor": first["next_cursor"]},
        headers=ADMIN,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
