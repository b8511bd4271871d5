"""Lead search benchmark: how fast ``GET /v1/admin/leads`` answers a filtered page from a
million leads, and the funnel and segment reports on the same leads.

Run ``python -m tests.bench.search [--leads 1000000] [--runs 200] [--report-runs 200]
[--out PATH]``. It starts
an embedded PostgreSQL of its own, migrates the router schema (revision 0009's indexes
included), seeds ``--leads`` leads with ``generate_series`` (statuses, lifecycle stages,
10 teams, 200 owners, 8 sources and their channels, 40 campaigns, received over 2 years, names,
emails and companies from fixed lists; each lead's stage history for the funnel), ANALYZEs,
then times each query ``--runs`` times (``--report-runs`` for the funnel and segments) with varied parameters through the repository
functions the endpoints call (``services.router.search.repository``,
``services.router.reports.repository``), one session each as an endpoint opens it:

- search, first page of 50: status + team, owner, source + a 30-day received range, a ``q``
  prefix (of a first name, last name, company or email);
- the second page of each (by the first page's cursor);
- ``count=true``'s count for status + team;
- the funnel of a 30-day cohort (no grouping, and by source/team), segment counts (by
  inactivity, stage, campaign) and the first page of a segment's leads.

p50/p95/p99 in ms per query, the EXPLAIN ANALYZE plan of one run of each search query, and
the figures go to ``tests/bench/results/search.md`` with the command that produced them.
The options every benchmark takes under ``make bench`` (``--repeats``, ``--duration``,
``--warmup``, ``--wait-idle``, ``--keep``) are accepted and ignored.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router.domain.search import LeadSearch, SearchKey, decode_cursor, encode_cursor
from services.router.domain.segments import Dimension, SegmentFilters
from services.router.reports.repository import ReportsRepository
from services.router.search.repository import page_query, search_count, search_page
from shared import db
from shared.stack.common import free_port
from shared.stack.postgres import EmbeddedPostgres
from shared.stack.stack import SERVICES
from tests.bench.common import fmt, machine_info, machine_line, percentile

RESULTS = Path(__file__).parent / "results" / "search.md"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
PAGE = 50
TEAMS = [f"team-{i}" for i in range(10)]
OWNERS = [f"rep-{i}" for i in range(200)]
SOURCES = ["website", "webinar", "expo", "partner", "ads", "referral", "content", "lists"]
CHANNELS = {"website": "web", "webinar": "web", "expo": "trade_show", "partner": "partner",
            "ads": "web", "referral": "email", "content": "web", "lists": "purchased_list"}  # fmt: skip
STATUSES = ["assigned", "nurture", "recycled", "disqualified", "opportunity", "converted",
            "new", "queued"]  # fmt: skip
FIRST = ["Ada", "Alan", "Grace", "Linus", "Barbara", "Edsger", "Ken", "Dennis", "Margaret",
         "John", "Mary", "James", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David",
         "Elizabeth", "William", "Susan", "Richard", "Jessica", "Joseph", "Sarah", "Thomas",
         "Karen", "Charles", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Sandra",
         "Mark", "Ashley", "Paul", "Emily", "Steven", "Donna", "Andrew", "Michelle", "Kenneth",
         "Carol", "Joshua", "Amanda", "Kevin", "Melissa", "Brian", "Deborah", "George", "Lena",
         "Timothy", "Laura", "Ronald", "Cynthia", "Jason", "Rebecca", "Edward", "Sofia", "Jonas",
         "Emma", "Lukas", "Mia", "Noah", "Hanna", "Elias", "Lea", "Felix", "Yuki", "Hiro",
         "Priya", "Arjun", "Chen", "Wei", "Olga", "Ivan", "Fatima", "Omar"]  # fmt: skip
LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Dijkstra", "Thompson", "Ritchie",
        "Hamilton", "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
        "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Taylor",
        "Moore", "Jackson", "Martin", "Lee", "Perez", "White", "Harris", "Sanchez", "Clark",
        "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
        "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
        "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Mueller", "Schmidt", "Schneider",
        "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann", "Koch", "Tanaka",
        "Suzuki", "Sato", "Kumar", "Singh", "Wang", "Li", "Zhang", "Ivanov", "Petrov", "Dubois",
        "Laurent", "Rossi", "Russo", "Silva", "Santos", "Jensen", "Nielsen", "Larsen", "Berg"]  # fmt: skip
WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne",
         "Wonka", "Cyberdyne", "Tyrell", "Soylent", "Aperture", "Massive", "Dynamic", "Blue",
         "Red", "North", "Summit", "Pioneer", "Vertex", "Quantum", "Nimbus", "Atlas", "Orbit",
         "Cobalt", "Granite", "Harbor", "Lumen", "Nova"]  # fmt: skip
SUFFIXES = ["Systems", "Labs", "GmbH", "Inc", "Analytics", "Logistics", "Software", "Partners",
            "Industries", "Media", "Health", "Energy", "Foods", "Bank", "Robotics"]  # fmt: skip


def _array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _pick(values: list[str], salt: str) -> str:
    """A deterministic pick per lead ``g`` (hash of g and a salt)."""
    return f"({_array(values)})[1 + abs(hashtext(g::text || '{salt}')) % {len(values)}]"


def _h(salt: str, mod: int) -> str:
    return f"(abs(hashtext(g::text || '{salt}')) % {mod})"


# Status by weight; stage and ownership follow from it.
_STATUS = f"""CASE
  WHEN {_h("s", 100)} < 35 THEN 'assigned' WHEN {_h("s", 100)} < 60 THEN 'nurture'
  WHEN {_h("s", 100)} < 70 THEN 'recycled' WHEN {_h("s", 100)} < 78 THEN 'disqualified'
  WHEN {_h("s", 100)} < 85 THEN 'opportunity' WHEN {_h("s", 100)} < 90 THEN 'converted'
  WHEN {_h("s", 100)} < 97 THEN 'new' ELSE 'queued' END"""
SEED_LEADS = f"""
INSERT INTO router.lead (id, status, is_name, profile, first_name, last_name, source_id,
    channel, received_at, score, temperature, stage, score_breakdown, owner_rep_id, team_id,
    queue, created_at, updated_at, lifecycle_stage, stage_entered_at)
SELECT md5('lead' || g)::uuid, status, status = 'nurture' AND {_h("n", 10)} = 0,
    jsonb_build_object('email', lower(first) || '.' || lower(last) || g || '@' ||
        lower(word) || '.example', 'company', word || ' ' || suffix, 'country',
        {_pick(["DE", "US", "GB", "FR", "SG", "JP", "BR", "CA"], "c")})
      || CASE WHEN {_h("k", 5)} = 0 THEN '{{}}'::jsonb
              ELSE jsonb_build_object('campaign', 'campaign-' || {_h("k2", 40)}) END,
    first, last, source, CASE source {" ".join(f"WHEN '{s}' THEN '{c}'" for s, c in CHANNELS.items())} END,
    received, score, CASE WHEN score >= 70 THEN 'hot' WHEN score >= 40 THEN 'warm' ELSE 'cold' END,
    CASE WHEN score >= 80 THEN 'sql' ELSE 'mql' END, '{{}}'::jsonb,
    CASE WHEN status IN ('assigned', 'opportunity', 'converted') THEN 'rep-' || owner END,
    CASE WHEN status IN ('assigned', 'opportunity', 'converted', 'recycled', 'disqualified')
         THEN 'team-' || (owner % 10)
         WHEN status = 'queued' AND {_h("q", 2)} = 0 THEN 'team-' || (owner % 10) END,
    CASE WHEN status = 'queued' THEN 'unassigned' END,
    received, received + ({_h("u", 90 * 24)} * interval '1 hour'),
    CASE status WHEN 'assigned' THEN 'sql' WHEN 'nurture' THEN 'mql' WHEN 'recycled' THEN 'recycled'
      WHEN 'disqualified' THEN 'disqualified' WHEN 'opportunity' THEN 'opportunity'
      WHEN 'converted' THEN 'customer' ELSE 'lead' END,
    received
FROM (
  SELECT g, {_STATUS} AS status, {_pick(FIRST, "f")} AS first, {_pick(LAST, "l")} AS last,
    {_pick(WORDS, "w")} AS word, {_pick(SUFFIXES, "x")} AS suffix,
    {_pick(SOURCES, "o")} AS source, {_h("r", 100)} AS score, {_h("p", 200)} AS owner,
    timestamptz '{NOW.isoformat()}' - ({_h("t", 730 * 86400)} * interval '1 second') AS received
  FROM generate_series(CAST(:low AS integer), CAST(:high AS integer)) AS g
) AS seed
"""
# The stage history: every lead entered "lead" (or "name") on arrival, and its current stage
# a few days later when that is another.
SEED_STAGES = """
INSERT INTO router.lead_stage (id, lead_id, stage, previous_stage, entered_at, left_at, cause)
SELECT md5('s1' || id::text)::uuid, id, CASE WHEN is_name THEN 'name' ELSE 'lead' END, NULL,
    received_at, CASE WHEN lifecycle_stage <> 'lead' THEN received_at + interval '3 days' END,
    'seed'
FROM router.lead WHERE received_at >= :low_at AND received_at < :high_at
UNION ALL
SELECT md5('s2' || id::text)::uuid, id, lifecycle_stage,
    CASE WHEN is_name THEN 'name' ELSE 'lead' END, received_at + interval '3 days', NULL, 'seed'
FROM router.lead
WHERE lifecycle_stage <> 'lead' AND received_at >= :low_at AND received_at < :high_at
"""
SEED_CHUNK = 100_000
TARGET = (
    "Target: a first page of 50 by status + team, owner, source + received range or a `q` "
    "prefix at p95 under 50 ms on 1,000,000 leads (revision 0009's indexes). The funnel and "
    "segment reports aggregate whole cohorts or the whole table and are measured, not held to it."
)


@dataclass
class Measured:
    name: str
    ms: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    plan: str | None = None
    sql: str | None = None

    def line(self) -> list[str]:
        s = sorted(self.ms)
        rows = sorted(self.rows)
        return [
            self.name,
            str(len(s)),
            fmt(percentile(s, 50), 2),
            fmt(percentile(s, 95), 2),
            fmt(percentile(s, 99), 2),
            fmt(max(s), 2),
            str(rows[len(rows) // 2]) if rows else "-",
        ]


async def seed(url: str, n: int) -> None:
    engine = db.create_engine(url, pool_size=1)
    try:
        started = time.perf_counter()
        for low in range(1, n + 1, SEED_CHUNK):
            high = min(n, low + SEED_CHUNK - 1)
            async with engine.begin() as conn:
                await conn.execute(text(SEED_LEADS), {"low": low, "high": high})
            print(f"seed leads: {high:,} of {n:,} ({time.perf_counter() - started:.0f} s)",
                  flush=True)  # fmt: skip
        start = NOW - timedelta(days=731)
        months = 25
        for m in range(months):
            low_at = start + timedelta(days=30 * m)
            high_at = start + timedelta(days=30 * (m + 1)) if m + 1 < months else NOW
            async with engine.begin() as conn:
                await conn.execute(text(SEED_STAGES), {"low_at": low_at, "high_at": high_at})
            print(f"seed stage history: month {m + 1} of {months} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE router.lead"))
            await conn.execute(text("VACUUM ANALYZE router.lead_stage"))
        print(f"analyze: done ({time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        await engine.dispose()


async def _explain(sessions: async_sessionmaker[AsyncSession], query: Any) -> tuple[str, str]:
    """The statement as the app sends it (asyncpg's ``$n`` bind parameters), prepared and
    explained under ``plan_cache_mode = force_generic_plan``: the plan a cached prepared
    statement runs, which must still use the indexes (no parameter values at planning)."""
    async with sessions() as session:
        conn = await session.connection()
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        sql = str(compiled)
        values = [compiled.params[name] for name in compiled.positiontup]
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.execute("SET plan_cache_mode = force_generic_plan")
        await raw.execute(f"PREPARE bench_search AS {sql}")
        try:
            # untyped literals: PostgreSQL reads each as the type the statement gave its $n
            args = ", ".join(_untyped_literal(v) for v in values)
            execute = f"EXECUTE bench_search({args})" if values else "EXECUTE bench_search"
            rows = await raw.fetch(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {execute}")
        finally:
            await raw.execute("DEALLOCATE bench_search")
            await raw.execute("RESET plan_cache_mode")
        plan = "\n".join(r[0] for r in rows)
        return f"-- prepared; plan_cache_mode = force_generic_plan\n{sql}", plan


def _untyped_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    text_value = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text_value.replace("'", "''") + "'"


async def _time(m: Measured, repeats: int, run: Callable[[int], Awaitable[int]]) -> Measured:
    for i in range(repeats):
        started = time.perf_counter()
        rows = await run(i)
        m.ms.append((time.perf_counter() - started) * 1000)
        m.rows.append(rows)
    return m


async def measure_search(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    make: Callable[[], LeadSearch],
    repeats: int,
) -> list[Measured]:
    """The first page of ``repeats`` searches ``make`` gives, then their second pages (by the
    cursor each first page handed out), and a plan of each."""
    first = Measured(f"search: {name}, page 1")
    second = Measured(f"search: {name}, page 2 (cursor)")
    pairs: list[tuple[LeadSearch, SearchKey]] = []

    async def page1(_: int) -> int:
        search = make()
        async with sessions() as session:
            rows = await search_page(session, search, None, PAGE + 1)
        if len(rows) > PAGE:
            cursor = encode_cursor(rows[PAGE - 1].key, search)  # as the endpoint hands it out
            pairs.append((search, decode_cursor(cursor, search)))
        return len(rows[:PAGE])

    async def page2(i: int) -> int:
        search, key = pairs[i % len(pairs)]
        async with sessions() as session:
            rows = await search_page(session, search, key, PAGE + 1)
        return len(rows[:PAGE])

    await _time(first, repeats, page1)
    first.sql, first.plan = await _explain(sessions, page_query(make(), None, PAGE + 1))
    if not pairs:
        return [first]
    await _time(second, repeats, page2)
    search, key = pairs[0]
    second.sql, second.plan = await _explain(sessions, page_query(search, key, PAGE + 1))
    return [first, second]


async def measure(url: str, repeats: int, report_repeats: int) -> list[Measured]:
    engine = db.create_engine(url, pool_size=2)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    rng = random.Random(11)
    prefixes = (
        [f.lower()[:3] for f in FIRST] + [x.lower()[:4] for x in LAST]
        + [w.lower()[:3] for w in WORDS] + [f"{f.lower()}.{x.lower()[:2]}" for f, x in zip(FIRST, LAST, strict=False)]
    )  # fmt: skip

    def status_team() -> LeadSearch:
        return LeadSearch(
            statuses=(rng.choice(["assigned", "recycled", "disqualified", "opportunity"]),),
            teams=(rng.choice(TEAMS),),
        )

    def owner() -> LeadSearch:
        return LeadSearch(owners=(rng.choice(OWNERS),))

    def source_range() -> LeadSearch:
        start = NOW - timedelta(days=rng.uniform(30, 730))
        return LeadSearch(
            sources=(rng.choice(SOURCES),),
            received_from=start,
            received_to=start + timedelta(days=30),
        )

    def q() -> LeadSearch:
        return LeadSearch(q=rng.choice(prefixes))

    searches: list[tuple[str, Callable[[], LeadSearch]]] = [
        ("status + team", status_team), ("owner", owner),
        ("source + received range (30 days)", source_range), ("q prefix", q),
    ]  # fmt: skip
    out: list[Measured] = []
    try:
        for name, make in searches:
            out += await measure_search(sessions, name, make, repeats)
            print(f"measured {name}", flush=True)

        async def counted(_: int) -> int:
            async with sessions() as session:
                return await search_count(session, status_team())

        out.append(await _time(Measured("search: count=true (status + team)"), repeats, counted))

        async def funnel(i: int) -> int:
            start = NOW - timedelta(days=rng.uniform(30, 700))
            by = [None, "source", "team"][i % 3]
            async with sessions() as session:
                total, _groups = await ReportsRepository(session).funnel(
                    start,
                    start + timedelta(days=30),
                    by,  # type: ignore[arg-type]
                )
            return total.cohort

        out.append(
            await _time(
                Measured("funnel: 30-day cohort (none/source/team)"), report_repeats, funnel
            )
        )
        print("measured funnel", flush=True)

        async def segments(i: int) -> int:
            dimension = Dimension(["inactivity", "stage", "campaign"][i % 3])  # type: ignore[arg-type]
            async with sessions() as session:
                counts = await ReportsRepository(session).segment_counts(
                    dimension, SegmentFilters(), NOW
                )
            return len(counts)

        out.append(
            await _time(
                Measured("segments: counts by inactivity/stage/campaign"), report_repeats, segments
            )
        )

        async def segment_leads(_: int) -> int:
            filters = SegmentFilters(
                inactivity=("over_1_year",), campaigns=(f"campaign-{rng.randrange(40)}",)
            )
            async with sessions() as session:
                leads = await ReportsRepository(session).segment_leads(filters, NOW, None, 100)
            return len(leads)

        out.append(
            await _time(
                Measured("segments: first page of a segment's leads"), report_repeats, segment_leads
            )
        )
        print("measured segments", flush=True)
    finally:
        await engine.dispose()
    return out


def write_results(path: Path, n: int, results: list[Measured], seeded_s: float) -> None:
    machine = machine_info()
    header = ["query", "runs", "p50 ms", "p95 ms", "p99 ms", "max ms", "rows (median)"]
    lines = [
        "# Lead search benchmark",
        "",
        f"`{' '.join(['python', '-m', 'tests.bench.search', *sys.argv[1:]])}`",
        "",
        f"{n:,} leads seeded by SQL in {seeded_s:.0f} s (then VACUUM ANALYZE); "
        f"{machine_line(machine)}; {machine['date']}.",
        "Each query runs through the repository function its endpoint calls, in a session of "
        "its own, with varied parameters; the time includes the round trip to PostgreSQL "
        "(asyncpg, prepared statements), not HTTP.",
        "",
        TARGET,
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(m.line()) + " |" for m in results]
    lines += ["", "## Plans (EXPLAIN ANALYZE of one run)", ""]
    for m in results:
        if m.plan:
            lines += [
                f"### {m.name}",
                "",
                "```sql",
                m.sql or "",
                "```",
                "",
                "```",
                m.plan,
                "```",
                "",
            ]
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


def main(
    leads: Annotated[int, typer.Option(min=1000, help="leads seeded")] = 1_000_000,
    runs: Annotated[int, typer.Option(min=1, help="runs of each search query")] = 200,
    report_runs: Annotated[
        int, typer.Option(min=1, help="runs of each funnel and segment query")
    ] = 200,
    repeats: Annotated[int | None, typer.Option(hidden=True)] = None,
    out: Annotated[Path, typer.Option(help="the results file")] = RESULTS,
    keep: Annotated[bool | None, typer.Option(hidden=True)] = None,
    duration: Annotated[float | None, typer.Option(hidden=True)] = None,
    warmup: Annotated[float | None, typer.Option(hidden=True)] = None,
    wait_idle: Annotated[float | None, typer.Option(hidden=True)] = None,
) -> None:
    root = Path(tempfile.mkdtemp(prefix="leadflow-searchbench-"))
    pg = EmbeddedPostgres(root=root / "pg", port=free_port(), durable=False)
    try:
        pg.start()
        pg.ensure_database("searchbench")
        url = pg.url("searchbench")
        router = next(s for s in SERVICES if s.name == "router")
        assert router.migrations is not None
        db.upgrade(router.migrations, url, router.schema)
        print("migrated the router schema", flush=True)
        started = time.perf_counter()
        asyncio.run(seed(url, leads))
        seeded = time.perf_counter() - started
        results = asyncio.run(measure(url, runs, report_runs))
        for m in results:
            print(" | ".join(m.line()))
        write_results(out, leads, results, seeded)
    finally:
        pg.destroy()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    typer.run(main)
