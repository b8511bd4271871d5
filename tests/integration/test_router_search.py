"""Lead search, its CSV export, the queue in drain order, and ``leadflow leads export``: the
router as a real process on the test's own PostgreSQL database, 10,000 leads inserted as rows
(after the router started, so its queue drain and sweeps, set to an hour, leave them be)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import random
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.domain.search import SUMMARY_FIELDS, LeadSearch
from services.router.domain.segments import csv_cell
from services.router.models import Assignment, Lead
from services.router.repository import RouterRepository
from services.router.search.repository import open_export
from shared import db
from shared.auth import hash_token, new_token
from shared.stack.common import free_port
from shared.stack.stack import SERVICES, ServiceProcess
from tests.router_env import RouterEnv, make_router_env

ROUTER = next(s for s in SERVICES if s.name == "router")
READER, IMPORTER = new_token(), new_token()
LEADS = 10_000
START = datetime(2025, 1, 1, tzinfo=UTC)
STATUSES = ["new", "assigned", "queued", "nurture", "opportunity", "converted", "recycled"]
STAGES = ["lead", "mql", "sql", "opportunity", "customer", "recycled", "disqualified"]
TEAMS = ["core", "emea", "apac", None]
FIRST = ["Ada", "Adam", "Grace", "Alan", "Linus", "Barbara", "Edsger", "Ken", "Zoë", "Ann"]
LAST = ["Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Dijkstra", "Thompson", "Adams"]
COMPANIES = ["Analytical Engines", "Megacorp", "Acme, Inc.", 'The "Quoted" Co', "=cmd|x",
             "Line\nBreak Ltd", None]  # fmt: skip


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_leads(n: int) -> list[dict[str, Any]]:
    rnd = random.Random(7)
    leads = []
    for i in range(n):
        # many leads share a second: the id orders them
        received = START + timedelta(seconds=rnd.randrange(0, 200 * 86400, 3600))
        first, last = rnd.choice([*FIRST, None]), rnd.choice(LAST)
        team = rnd.choice(TEAMS)
        status = rnd.choice(STATUSES)
        profile: dict[str, Any] = {"email": f"{(first or 'x').lower()}.{i}@{last.lower()}.example"}
        company = rnd.choice(COMPANIES)
        if company is not None:
            profile["company"] = company
        if rnd.random() < 0.5:
            profile["campaign"] = rnd.choice(["spring", "winback"])
        leads.append(
            {
                "id": uuid.UUID(int=rnd.getrandbits(128), version=4), "status": status,
                "is_name": False, "profile": profile, "first_name": first, "last_name": last,
                "source_id": rnd.choice(["website", "expo", "partner"]),
                "channel": rnd.choice(["web", "trade_show", "email"]), "received_at": received,
                "score": rnd.randrange(0, 100), "temperature": rnd.choice(["hot", "warm", "cold"]),
                "stage": rnd.choice(["mql", "sql"]), "score_breakdown": {},
                "owner_rep_id": f"rep-{rnd.randrange(20)}" if status == "assigned" else None,
                "team_id": team, "queue": "unassigned" if status == "queued" else None,
                "created_at": received, "updated_at": received + timedelta(hours=rnd.randrange(48)),
                "lifecycle_stage": rnd.choice(STAGES), "stage_entered_at": received,
            }
        )  # fmt: skip
    for lead in leads[:3]:  # penalties can take a score below zero
        lead["score"] = -5
    return leads


def with_non_ascii_names(leads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PostgreSQL's lower() folds these for the index and for q alike."""
    leads[10]["first_name"], leads[11]["last_name"] = "Élise", "Øre"
    leads[12]["first_name"], leads[13]["profile"]["company"] = "İpek", "ÉCOLE Øst"
    return leads


@dataclass
class World:
    env: RouterEnv
    router: httpx.AsyncClient
    url: str
    engine: AsyncEngine
    leads: list[dict[str, Any]]
    reasons: dict[uuid.UUID, str]


@pytest.fixture(scope="module")
async def world(stack, tmp_root: Path) -> AsyncIterator[World]:
    env = await make_router_env(stack)
    tokens = tmp_root / f"tokens-search-{uuid.uuid4().hex[:8]}.yaml"
    tokens.write_text(
        yaml.safe_dump(
            {
                "tokens": [
                    {"name": "reader", "scopes": ["read"], "sha256": hash_token(READER)},
                    {"name": "importer", "scopes": ["import"], "sha256": hash_token(IMPORTER)},
                ]
            }
        )
    )
    extra = {
        "LEADFLOW_ADMIN_TOKENS_FILE": str(tokens),
        "LEADFLOW_ADMIN_TOKEN": "",
        "LEADFLOW_ROUTER_QUEUE_DRAIN_SECONDS": "3600",
        "LEADFLOW_ROUTER_LIFECYCLE_SWEEP_SECONDS": "3600",
    }
    proc = ServiceProcess(
        ROUTER,
        {k: v for k, v in env.env(**extra).items() if v != ""},
        port=free_port(),
        log=tmp_root / "router-search.log",
    )
    await asyncio.to_thread(proc.start)
    await asyncio.to_thread(proc.wait_ready)
    engine = db.create_engine(env.database_url, pool_size=2)
    leads = with_non_ascii_names(make_leads(LEADS))
    reasons: dict[uuid.UUID, str] = {}
    decisions = []
    for lead in leads:
        if lead["status"] == "queued" and len(reasons) % 2 == 0:
            reasons[lead["id"]] = f"no rep free for {lead['id']}"
        if lead["id"] in reasons:
            decisions.append(
                {
                    "id": uuid.uuid4(), "lead_id": lead["id"], "outcome": "queued",
                    "kind": "initial", "queue": "unassigned", "reason": reasons[lead["id"]],
                    "explanation": {}, "score": {}, "cause_event_id": "test",
                    "decided_at": lead["received_at"],
                }
            )  # fmt: skip
        elif lead["status"] == "queued":
            reasons[lead["id"]] = ""  # queued without a decision on record
    try:
        async with engine.begin() as conn:
            for i in range(0, len(leads), 2000):
                await conn.execute(Lead.__table__.insert(), leads[i : i + 2000])
            await conn.execute(Assignment.__table__.insert(), decisions)
        async with httpx.AsyncClient(base_url=proc.url, timeout=60) as client:
            yield World(env, client, proc.url, engine, leads, reasons)
    finally:
        await engine.dispose()
        await asyncio.to_thread(proc.stop)


def order_key(lead: dict[str, Any]) -> tuple[Any, ...]:
    return (-lead["received_at"].timestamp(), -lead["id"].int)


def full_name(lead: dict[str, Any]) -> str:
    return f"{lead['first_name'] or ''} {lead['last_name'] or ''}"


def prefix(q: str) -> Callable[[dict[str, Any]], bool]:
    def match(lead: dict[str, Any]) -> bool:
        texts = [full_name(lead), lead["last_name"], lead["profile"].get("email"),
                 lead["profile"].get("company")]  # fmt: skip
        return any(t is not None and t.lower().startswith(q) for t in texts)

    return match


def expected(match: Callable[[dict[str, Any]], bool], leads: list[dict[str, Any]]) -> list[str]:
    return [str(lead["id"]) for lead in sorted(filter(match, leads), key=order_key)]


async def pages(w: World, limit: int, **params: Any) -> list[dict[str, Any]]:
    items, cursor, n = [], None, 0
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        r = await w.router.get("/v1/admin/leads", params=query, headers=bearer(READER))
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= limit
        items.extend(body["items"])
        cursor = body["next_cursor"]
        n += 1
        if cursor is None:
            return items
        assert len(body["items"]) == limit and n < 10_000


NOV = datetime(2025, 3, 1, tzinfo=UTC)
SEARCHES: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({"status": "queued", "team": "core"},
     lambda x: x["status"] == "queued" and x["team_id"] == "core"),
    ({"status": ["new", "recycled"], "team": "(none)"},
     lambda x: x["status"] in ("new", "recycled") and x["team_id"] is None),
    ({"owner": "rep-3"}, lambda x: x["owner_rep_id"] == "rep-3"),
    ({"source": "expo", "received_from": "2025-03-01T00:00:00Z",
      "received_to": "2025-04-01T00:00:00+00:00"},
     lambda x: x["source_id"] == "expo" and NOV <= x["received_at"] < datetime(2025, 4, 1, tzinfo=UTC)),
    ({"q": "ada"}, prefix("ada")),
    ({"q": "Ada Lov"}, prefix("ada lov")),
    ({"q": "ACME"}, prefix("acme")),
    ({"q": "grace.1"}, prefix("grace.1")),
    ({"q": "élise"}, prefix("élise")),
    ({"q": "ÉLISE"}, prefix("élise")),
    ({"q": "øre"}, prefix("øre")),
    ({"q": "École ø"}, prefix("école ø")),
    # "İ" lowers to "i" in PostgreSQL, to "i" and a combining dot in Python
    ({"q": "İpek"}, lambda x: x["first_name"] == "İpek"),
    ({"q": "ipek"}, lambda x: x["first_name"] == "İpek"),
    ({"temperature": "hot", "stage": ["sql", "mql"], "channel": "web", "campaign": "(none)"},
     lambda x: x["temperature"] == "hot" and x["lifecycle_stage"] in ("sql", "mql")
     and x["channel"] == "web" and "campaign" not in x["profile"]),
    ({"queued": "true", "queue": "unassigned", "campaign": "spring"},
     lambda x: x["status"] == "queued" and x["profile"].get("campaign") == "spring"),
    ({"updated_from": "2025-02-01T00:00:00Z", "queued": "false", "owner": "(none)"},
     lambda x: x["updated_at"] >= datetime(2025, 2, 1, tzinfo=UTC) and x["status"] != "queued"
     and x["owner_rep_id"] is None),
]  # fmt: skip


async def test_search_pages_return_exactly_the_matching_leads(world: World):
    w = world
    for params, match in SEARCHES:
        want = expected(match, w.leads)
        assert want, params  # every search finds something
        limit = max(7, len(want) // 4)
        got = [item["id"] for item in await pages(w, min(limit, 500), **params)]
        assert len(got) == len(set(got)), params  # no duplicates
        assert got == want, params  # no gaps, newest first
    # count=true carries the total; an empty search is an empty page
    r = await w.router.get(
        "/v1/admin/leads", params={"owner": "rep-3", "count": "true"}, headers=bearer(READER)
    )
    assert r.json()["total"] == len(expected(lambda x: x["owner_rep_id"] == "rep-3", w.leads))
    r = await w.router.get("/v1/admin/leads", params={"q": "zzz"}, headers=bearer(READER))
    assert r.json() == {"items": [], "next_cursor": None, "total": None}


async def test_a_lead_is_shown_with_its_summary(world: World):
    w = world
    lead = next(x for x in w.leads if x["status"] == "queued" and x["first_name"])
    (item,) = (
        await w.router.get(
            "/v1/admin/leads", params={"q": lead["profile"]["email"]}, headers=bearer(READER)
        )
    ).json()["items"]
    assert item == {
        "id": str(lead["id"]), "status": "queued", "stage": lead["lifecycle_stage"],
        "owner": None, "team": lead["team_id"], "queue": "unassigned",
        "temperature": lead["temperature"], "score": lead["score"], "source": lead["source_id"],
        "channel": lead["channel"], "campaign": lead["profile"].get("campaign"),
        "received_at": lead["received_at"].isoformat().replace("+00:00", "Z"),
        "updated_at": lead["updated_at"].isoformat().replace("+00:00", "Z"),
        "name": f"{lead['first_name']} {lead['last_name']}", "email": lead["profile"]["email"],
        "company": lead["profile"].get("company"),
    }  # fmt: skip


async def test_csv_export_of_all_leads_streams_and_parses_back_to_the_pages(world: World):
    w = world
    json_items = await pages(w, 500)
    assert len(json_items) == LEADS
    chunks = []
    async with w.router.stream(
        "GET", "/v1/admin/leads", headers={**bearer(READER), "Accept": "text/csv"}
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        assert "content-length" not in r.headers
        assert r.headers["transfer-encoding"] == "chunked"
        assert r.headers["x-total-count"] == str(LEADS)
        async for chunk in r.aiter_raw():
            chunks.append(chunk)
    assert len(chunks) > 5  # a header, then chunks of a thousand leads as they are read
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    assert rows[0] == list(SUMMARY_FIELDS)
    assert rows[1:] == [[csv_cell(item[f]) for f in SUMMARY_FIELDS] for item in json_items]
    # the cells, written out independently of the code under test
    by_id = {str(lead["id"]): lead for lead in w.leads}
    score, company = SUMMARY_FIELDS.index("score"), SUMMARY_FIELDS.index("company")
    for row in rows[1:]:
        lead = by_id[row[0]]
        assert row[score] == str(lead["score"])
        want = lead["profile"].get("company") or ""
        assert row[company] == ("'" + want if want.startswith("=") else want)
    assert {row[score] for row in rows[1:] if row[0] in {str(x["id"]) for x in w.leads[:3]}} == {
        "-5"
    }
    formula = next(row for row in rows if row[SUMMARY_FIELDS.index("company")].startswith("'"))
    assert formula[SUMMARY_FIELDS.index("company")] == "'=cmd|x"
    assert any("\n" in row[SUMMARY_FIELDS.index("company")] for row in rows)

    # filtered: the same leads as the pages
    r = await w.router.get(
        "/v1/admin/leads",
        params={"owner": "rep-3"},
        headers={**bearer(READER), "Accept": "text/csv"},
    )
    ids = [row["id"] for row in csv.DictReader(io.StringIO(r.text))]
    assert ids == expected(lambda x: x["owner_rep_id"] == "rep-3", w.leads)


BAD = [
    ({"status": "open"}, "status"),
    ({"stage": "prospect"}, "stage"),
    ({"temperature": "tepid"}, "temperature"),
    ({"teams": "core"}, "teams"),
    ({"received_from": "last week"}, "received_from"),
    ({"received_from": "0001-01-01T00:00:00+14:00"}, "received_from"),
    ({"updated_to": "9999-12-31T23:59:59-14:00"}, "updated_to"),
    ({"received_from": "2026-01-02T00:00:00Z", "received_to": "2026-01-01T00:00:00Z"}, "received_to"),
    ({"queued": "maybe"}, "queued"),
    ({"limit": "0"}, "limit"),
    ({"limit": "501"}, "limit"),
    ({"q": ""}, "q"),
    *(({name: "ada\x00"}, name)
      for name in ("q", "owner", "team", "queue", "source", "channel", "campaign")),
    ({"count": "often"}, "count"),
    ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
    # tampered cursors: an id of the wrong type, an instant out of range, deep nesting, length
    ({"cursor": "eyJ2IjoxLCJyIjoiMjAyNi0xMS0yM1QwODo1NTowMCswMDowMCIsImlkIjoxMjMsImYiOiJ4In0"},
     "cursor"),
    ({"cursor": "eyJ2IjoxLCJyIjoiMDAwMS0wMS0wMVQwMDowMDowMCswNTowMCIsImlkIjoiMDAwMDAwMDAtMDAwMC0w"
                "MDAwLTAwMDAtMDAwMDAwMDAwMDAwIiwiZiI6IngifQ"}, "cursor"),
    ({"cursor": "W1tb" * 333}, "cursor"),
    ({"cursor": "A" * 600}, "cursor"),
]  # fmt: skip


async def test_bad_parameters_are_422_naming_them_and_a_foreign_cursor_is_refused(world: World):
    w = world
    for params, name in BAD:
        r = await w.router.get("/v1/admin/leads", params=params, headers=bearer(READER))
        assert r.status_code == 422, (params, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [name], (params, r.text)
    csv_headers = {**bearer(READER), "Accept": "text/csv"}
    for name, value in (("limit", "5"), ("cursor", "x"), ("count", "true")):
        r = await w.router.get("/v1/admin/leads", params={name: value}, headers=csv_headers)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == name
    first = (
        await w.router.get(
            "/v1/admin/leads", params={"team": "core", "limit": 2}, headers=bearer(READER)
        )
    ).json()
    r = await w.router.get(
        "/v1/admin/leads",
        params={"team": "emea", "limit": 2, "cursor": first["next_cursor"]},
        headers=bearer(READER),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
    # the page size may change between pages; the filters may not
    r = await w.router.get(
        "/v1/admin/leads",
        params={"team": "core", "limit": 3, "cursor": first["next_cursor"]},
        headers=bearer(READER),
    )
    assert r.status_code == 200


async def test_search_and_queue_need_the_read_scope(world: World):
    w = world
    for path in ("/v1/admin/leads", "/v1/admin/queue"):
        assert (await w.router.get(path)).status_code == 401
        assert (await w.router.get(path, headers=bearer("nope"))).status_code == 401
        assert (await w.router.get(path, headers=bearer(IMPORTER))).status_code == 403


async def test_the_queue_refuses_a_team_with_a_nul_naming_it(world: World):
    r = await world.router.get(
        "/v1/admin/queue", params={"team": "core\x00"}, headers=bearer(READER)
    )
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["team"]


async def test_the_queue_is_listed_in_the_order_the_router_drains_it(world: World):
    w = world
    async with w.engine.connect() as conn:
        from sqlalchemy.ext.asyncio import AsyncSession

        async with AsyncSession(bind=conn) as session:
            drain = await RouterRepository(session).queued_leads(LEADS)
    queued = [x for x in w.leads if x["status"] == "queued"]
    assert len(drain) == len(queued) > 200
    by_id = {x["id"]: x for x in queued}
    # SQL first, then hot, then oldest
    assert drain == sorted(
        by_id,
        key=lambda i: (by_id[i]["stage"] != "sql", by_id[i]["temperature"] != "hot",
                       by_id[i]["received_at"], i),
    )  # fmt: skip
    listed, offset = [], 0
    while offset is not None:
        r = await w.router.get(
            "/v1/admin/queue", params={"limit": 150, "offset": offset}, headers=bearer(READER)
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == len(queued)
        listed.extend(body["items"])
        offset = body["next_offset"]
    assert [e["lead_id"] for e in listed] == [str(i) for i in drain]
    assert [e["position"] for e in listed] == list(range(1, len(drain) + 1))
    head = listed[0]
    lead = by_id[drain[0]]
    assert (head["stage"], head["temperature"], head["queue"]) == (
        lead["stage"],
        lead["temperature"],
        "unassigned",
    )
    with_reason = next(e for e in listed if w.reasons[uuid.UUID(e["lead_id"])])
    assert with_reason["reason"] == w.reasons[uuid.UUID(with_reason["lead_id"])]
    assert with_reason["queued_at"] is not None
    assert any(e["reason"] is None for e in listed)

    # a team narrows the list; positions stay the drain's
    r = await w.router.get(
        "/v1/admin/queue", params={"team": "core", "limit": 500}, headers=bearer(READER)
    )
    core = r.json()["items"]
    assert [e["lead_id"] for e in core] == [str(i) for i in drain if by_id[i]["team_id"] == "core"]
    assert all(listed[e["position"] - 1]["lead_id"] == e["lead_id"] for e in core)
    r = await w.router.get("/v1/admin/queue", params={"limit": 0}, headers=bearer(READER))
    assert r.status_code == 422


def run_cli(*args: str, token: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "leads", "export", *args],
        capture_output=True,
        env={**os.environ, "LEADFLOW_TOKEN": token, "COLUMNS": "100"},
        timeout=120,
        check=False,
    )


async def test_the_cli_export_writes_the_same_csv_and_fails_in_a_sentence(world: World, tmp_path):
    w = world
    r = await w.router.get(
        "/v1/admin/leads", params={"team": "core"}, headers={**bearer(READER), "Accept": "text/csv"}
    )
    out = tmp_path / "core.csv"
    done = await asyncio.to_thread(
        run_cli, "--team", "core", "--url", w.url, "--out", str(out), token=READER
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == r.content
    assert b"exported" in done.stderr
    # to standard output
    done = await asyncio.to_thread(
        run_cli, "--team", "core", "--url", w.url, "--no-progress", token=READER
    )
    assert done.returncode == 0 and done.stdout == r.content

    done = await asyncio.to_thread(run_cli, "--url", w.url, token="wrong")
    assert done.returncode == 1 and done.stdout == b""
    assert b"the router refused the token (401" in done.stderr
    assert b"Traceback" not in done.stderr
    done = await asyncio.to_thread(run_cli, "--url", w.url, "--status", "open", token=READER)
    assert done.returncode == 1 and b"422: status: status must be one of" in done.stderr
    done = await asyncio.to_thread(run_cli, "--url", "http://127.0.0.1:9", token=READER)
    assert done.returncode == 1 and b"cannot export from the router" in done.stderr


async def test_a_failed_cli_export_leaves_no_partial_file(world: World, tmp_path):
    w = world
    fresh, kept = tmp_path / "fresh.csv", tmp_path / "kept.csv"
    kept.write_bytes(b"an older export\n")
    for out in (fresh, kept):
        for args, token in (
            (("--url", w.url), "wrong"),  # refused
            (("--url", w.url, "--status", "open"), READER),  # bad filter
            (("--url", "http://127.0.0.1:9"), READER),  # no router
        ):
            done = await asyncio.to_thread(run_cli, *args, "--out", str(out), token=token)
            assert done.returncode == 1, done.stderr
    assert not fresh.exists() and kept.read_bytes() == b"an older export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.csv"]  # no temporary left
    done = await asyncio.to_thread(
        run_cli, "--url", w.url, "--owner", "rep-3", "--out", str(kept), token=READER
    )
    assert done.returncode == 0, done.stderr
    ids = [row["id"] for row in csv.DictReader(io.StringIO(kept.read_text()))]
    assert ids == expected(lambda x: x["owner_rep_id"] == "rep-3", w.leads)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.csv"]


async def test_the_export_reads_one_snapshot_whatever_changes_meanwhile(world: World):
    w = world
    late = {**make_leads(1)[0], "id": uuid.uuid4(), "received_at": START - timedelta(days=1)}
    late["created_at"] = late["updated_at"] = late["stage_entered_at"] = late["received_at"]
    oldest = min(w.leads, key=order_key_oldest)
    seen: list[str] = []
    export = await open_export(w.engine, LeadSearch(), 1000)
    try:
        chunks = export.chunks()
        seen += [str(r.id) for r in await anext(chunks)]
        # after the first chunk: a lead arrives that sorts last, and the last one goes away
        async with w.engine.begin() as conn:
            await conn.execute(Lead.__table__.insert(), [late])
            await conn.execute(
                Lead.__table__.update().where(Lead.id == oldest["id"]).values(status="erased")
            )
        async for chunk in chunks:
            seen += [str(r.id) for r in chunk]
            if str(oldest["id"]) in seen:
                row = next(r for r in chunk if r.id == oldest["id"])
                assert row.status == oldest["status"]  # as it was when the export began
    finally:
        await export.aclose()
        async with w.engine.begin() as conn:
            await conn.execute(Lead.__table__.delete().where(Lead.id == late["id"]))
            await conn.execute(
                Lead.__table__.update()
                .where(Lead.id == oldest["id"])
                .values(status=oldest["status"])
            )
    assert seen == expected(lambda _: True, w.leads)


def order_key_oldest(lead: dict[str, Any]) -> tuple[Any, ...]:
    return (lead["received_at"].timestamp(), lead["id"].int)


async def test_the_export_counts_its_leads_inside_its_snapshot(world: World):
    w = world
    late = {**make_leads(1)[0], "id": uuid.uuid4(), "received_at": START - timedelta(days=1)}
    late["created_at"] = late["updated_at"] = late["stage_entered_at"] = late["received_at"]
    export = await open_export(w.engine, LeadSearch(), 1000)
    try:
        # a lead arrives after the count: neither the count nor the rows see it
        async with w.engine.begin() as conn:
            await conn.execute(Lead.__table__.insert(), [late])
        rows = [r async for chunk in export.chunks() for r in chunk]
        assert export.total == len(rows) == LEADS
    finally:
        await export.aclose()
        async with w.engine.begin() as conn:
            await conn.execute(Lead.__table__.delete().where(Lead.id == late["id"]))
    assert w.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_an_export_abandoned_midway_gives_its_connection_back(world: World):
    w = world
    export = await open_export(w.engine, LeadSearch(), 1000)
    chunks = export.chunks()
    assert len(await anext(chunks)) == 1000
    assert w.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    await export.aclose()  # what the response does once the client is gone
    assert w.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
