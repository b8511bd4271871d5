"""Router benchmark: throughput with 1,000,000 existing leads vs an empty database, and
end-to-end latency (ingest -> Kafka -> router -> ``leads.assigned.v1``) at constant rates.

``python -m tests.bench.router [--seed-leads 1000000] [--leads 5000] [--rates 10,20,30]
[--duration 20] [--warmup 3] [--repeats 3]`` (``make bench ROUTER_BENCH_ARGS="..."``).

What it does:

1. Starts its own isolated stack in a temp dir on free loopback ports (embedded PostgreSQL
   with fsync on, a KRaft Kafka broker, migrations, topics) and tears it down at the end,
   also on error, Ctrl-C or SIGTERM.
2. Seeds ``--seed-leads`` existing leads into ``router.lead`` plus their email identities in
   ``router.lead_identity`` with a few ``INSERT ... SELECT FROM generate_series`` statements
   (varied profiles, skewed spread over ``--companies`` companies, statuses from their score:
   assigned / converted to the fixture's reps, or nurture), then VACUUM ANALYZE + CHECKPOINT
   so no autovacuum or checkpoint of the load lands in a measurement. A sample of the rows
   is checked against the router's own code (company key, canonical email, score).
3. Throughput: bursts of ``--leads`` ``leads.received.v1`` events (``--returning-pct`` of
   them returning people whose email matches a seeded lead, the rest new people at distinct
   seeded companies) published straight to the prefixed topic; one router process
   (``tests/fixtures/routing-24x7.yaml``) per database. The first burst is published before
   the router starts and timed from its readiness; later bursts (router still up) are timed
   from the start of publishing. Done = ``router.processed_event`` holds the whole burst.
   The same bursts run against an EMPTY database on the same server (the baseline); the
   two alternate to spread drift.
4. Latency: ingest + the router on the seeded database and one prefix; signed leads
   (``tests/signing.py``, a real Standard Webhooks sender) posted at constant offered rates,
   open loop (schedule-based send times); ``leads.assigned.v1`` is read as it arrives and
   matched on ``data.submission_id`` == the ingest response's ``lead_id``; latency = read
   time - *scheduled* send time.
5. Writes ``tests/bench/results/router.json`` and ``router.md``; prints the tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import signal
import statistics
import string
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.convert import profile_of
from services.router.domain.matching import company_key
from services.router.domain.model import LeadProfile
from services.router.domain.scoring import ScoringRulesSource, score
from services.router.settings import CONFIG_DIR
from shared import db
from shared.domain.contact import canonical_email
from shared.events.models import LeadData
from shared.events.registry import LEAD_ASSIGNED
from shared.kafka.producer import EventProducer
from shared.kafka.topics import all_topics, ensure_topics
from shared.settings import DEV_WEBHOOK_SECRET
from shared.stack.common import REPO_ROOT, free_port
from shared.stack.stack import SERVICES, ServiceProcess, Stack
from tests.bench.run import (
    DISTURBED_OTHER_PCT,
    ConnectionPool,
    CpuMeter,
    _assert_loopback,
    _fmt,
    _loop_factory,
    _postmaster_pid,
    _proc_cpu_seconds,
    console,
    machine_info,
    percentile,
    wait_for_quiet,
)
from tests.router_env import FIXTURES, ROUTER, RouterEnv, make_router_env, received, sales_ready
from tests.signing import signed_request

RESULTS_DIR = REPO_ROOT / "tests" / "bench" / "results"
INGEST = next(s for s in SERVICES if s.name == "ingest")
ROUTING_FILE = FIXTURES / "routing-24x7.yaml"
LEADS_PATH = "/v1/leads"

# Hard bounds: the benchmark must stay finite whatever ROUTER_BENCH_ARGS says.
MAX_SEED = 5_000_000
MAX_COMPANIES = 50_000  # the company-name word lists give 50 * 40 * 25 distinct names
MAX_LEADS = 50_000
MAX_RATE = 200.0
MAX_DURATION = 120.0
MAX_WARMUP = 30.0
MAX_REPEATS = 5
MAX_BURST_TIMEOUT = 1800.0
MAX_DRAIN = 300.0
SEED_CHUNK = 250_000
PUBLISH_CHUNK = 1000
RUN_QUIET_OTHER_PCT = 30.0  # % of one core used by other work: quiet enough to measure
SATURATION_ACHIEVED = 0.9  # assigned/s under this share of offered: the router did not keep up
SATURATION_BACKLOG_S = 2.0  # more than this many seconds of offered leads pending at the end

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


# --------------------------------------------------------------------------- seed data

FIRST = (
    "Anna Ben Carla David Elena Felix Grace Hugo Ines Jonas Karen Liam Maria Noah Olivia Paul "
    "Quinn Rosa Sam Tara Umar Vera Will Xenia Yusuf Zoe Adam Bella Chris Dana Eric Fiona Georg "
    "Hanna Ivan Julia Kevin Lena Marco Nina Oscar Petra Rafael Sofia Tom Ulla Victor Wanda "
    "Yann Zara Aaron Brigitte Cedric Diana Emil Frieda Gustav Helga Igor Jana"
).split()
LAST = (
    "Smith Mueller Garcia Rossi Novak Kowalski Jensen Berg Dubois Martin Silva Costa Meyer "
    "Schmidt Fischer Weber Wagner Becker Schulz Hoffmann Koch Richter Klein Wolf Neumann "
    "Schwarz Zimmermann Braun Krueger Hofmann Hartmann Lange Schmitt Werner Krause Meier "
    "Lehmann Schmid Schulze Maier Koehler Herrmann Walter Koenig Mayer Huber Kaiser Fuchs "
    "Peters Lang Scholz Moeller Weiss Jung Hahn Schubert Vogel Friedrich Keller Guenther "
    "Frank Berger Winkler Roth Beck Lorenz Baumann Franke Albrecht Schuster Simon Ludwig "
    "Boehm Winter Kraus Martens Schumacher Kraemer Vogt Stein"
).split()
CO_A = (
    "Northwind Contoso Fabrikam Tailspin Litware Adatum Proseware Wingtip Alpine Blue "
    "Coho Consolidated Datum Fourth Graphic Humongous Lucerne Margie Nod Southridge "
    "Trey Wide Woodgrove Acme Globex Initech Umbrella Stark Wayne Hooli Vandelay Soylent "
    "Cyberdyne Tyrell Aperture Massive Oscorp Gringotts Monarch Nakatomi Virtucon Zorg "
    "Dunder Wonka Sirius Buynlarge Ollivander Primatech Bluth Sterling"
).split()
CO_B = (
    "Red Green Silver Golden Iron Quantum Rapid Clear Bright Solid North South East West "
    "Prime Core Smart Open Deep Swift Polar Coastal Urban Rural Summit Harbor River Valley "
    "Cloud Stone Maple Cedar Pine Oak Falcon Eagle Orbit Nova Pixel Vector"
).split()
CO_C = (
    "Systems Labs Analytics Logistics Software Networks Robotics Dynamics Solutions "
    "Partners Works Digital Health Energy Foods Media Capital Retail Freight Devices "
    "Studios Security Data Payments Cloudworks"
).split()
TLDS = ["com", "io", "net", "de", "co.uk"]
LEGAL = ["", "", " Inc", " GmbH", " Ltd"]
FREEMAIL = ["gmail.com", "yahoo.com", "outlook.com", "web.de"]
# (title, weight): senior titles reach the MQL threshold with the shipped scoring rules
TITLES = [
    ("CEO", 6),
    ("CTO", 8),
    ("VP Engineering", 10),
    ("Head of Sales", 8),
    ("Founder", 6),
    ("Chief Revenue Officer", 3),
    ("VP Marketing", 5),
    ("Director of IT", 8),
    ("Engineering Manager", 10),
    ("Software Engineer", 14),
    ("Marketing Specialist", 8),
    ("Consultant", 6),
    ("Analyst", 5),
    ("Student", 2),
    ("Intern", 1),
]
SIZES = [
    ("1-10", 8),
    ("11-50", 12),
    ("51-200", 15),
    ("201-500", 20),
    ("501-1000", 17),
    ("1001-5000", 18),
    ("5001+", 10),
]
INDUSTRIES = [
    ("Software", 30),
    ("Fintech", 12),
    ("E-commerce", 10),
    ("Logistics", 8),
    ("Healthcare Technology", 8),
    ("Manufacturing", 12),
    ("Education", 8),
    ("Consulting", 12),
]
COUNTRIES = [
    ("US", "New York", "America/New_York", 30),
    ("DE", "Berlin", "Europe/Berlin", 15),
    ("GB", "London", "Europe/London", 12),
    ("FR", "Paris", "Europe/Paris", 8),
    ("NL", "Amsterdam", "Europe/Amsterdam", 5),
    ("SE", "Stockholm", "Europe/Stockholm", 4),
    ("CA", "Toronto", "America/Toronto", 7),
    ("AU", "Sydney", "Australia/Sydney", 5),
    ("IN", "Bangalore", "Asia/Kolkata", 8),
    ("BR", "Sao Paulo", "America/Sao_Paulo", 6),
]
UTM_SOURCES = ["google", "linkedin", "newsletter", "partner", "direct", "bing", "twitter"]
UTM_MEDIUMS = ["cpc", "social", "email", "referral", "organic"]
CAMPAIGNS = ["spring-launch", "webinar-q3", "ebook-roi", "trial-push", "brand", "retargeting"]
FORMS = ["demo-request", "contact", "ebook", "webinar", "pricing", "trial"]
MESSAGES = [
    "Please call me about pricing.",
    "We are evaluating tools for our sales team.",
    "Interested in a demo next week.",
    "How does the integration with our CRM work?",
    "Looking for an enterprise plan.",
]
COMPANY_SKEW = 1.5  # company = floor(companies * u^1.5): a few big companies, a long tail
FREEMAIL_SHARE = 0.15
LIST_NAME_SHARE = 0.03
CONVERTED_SHARE = 0.10  # of the leads that reached the MQL threshold
# owners of assigned/converted leads: rep-a/b/c in the fixture's 3:2:1 weights
REP_CUTS = (("rep-a", 0.5), ("rep-b", 5 / 6), ("rep-c", 1.0))


def _sql_str(value: str) -> str:
    assert "'" not in value and "\\" not in value, value
    return f"'{value}'"


def _sql_array(values: list[str]) -> str:
    return "(ARRAY[" + ",".join(_sql_str(v) for v in values) + "]::text[])"


def _sql_int_array(values: list[int]) -> str:
    return "(ARRAY[" + ",".join(str(int(v)) for v in values) + "]::int[])"


def _pick(weighted: list[tuple[Any, ...]]) -> list[int]:
    """Indices repeated by weight: a uniform pick from this list is a weighted pick."""
    return [i for i, item in enumerate(weighted) for _ in range(int(item[-1]))]


def company_name(c: int) -> str:
    return f"{CO_A[c % 50]} {CO_B[(c // 50) % 40]} {CO_C[(c // 2000) % 25]}"


def company_domain(c: int) -> str:
    return f"{CO_A[c % 50]}{CO_B[(c // 50) % 40]}{CO_C[(c // 2000) % 25]}".lower() + (
        "." + TLDS[c % len(TLDS)]
    )


def _archetype_key(ti: int, si: int, ii: int, ci: int, fm: int) -> int:
    return (((ti * len(SIZES) + si) * len(INDUSTRIES) + ii) * len(COUNTRIES) + ci) * 2 + fm


def archetypes(rules_path: Path) -> list[dict[str, Any]]:
    """Score every (title, size, industry, country, free-mail) combination with the
    router's own scoring code: seeded rows carry a consistent score and breakdown."""
    rules = ScoringRulesSource(rules_path).rules
    now = datetime.now(UTC)
    rows = []
    for ti, (title, _) in enumerate(TITLES):
        for si, (size, _) in enumerate(SIZES):
            for ii, (industry, _) in enumerate(INDUSTRIES):
                for ci, (country, *_rest) in enumerate(COUNTRIES):
                    for fm in (0, 1):
                        domain = None if fm else "northwindredsystems.com"
                        profile = LeadProfile(
                            email=f"someone@{'gmail.com' if fm else domain}",
                            first_name="Anna",
                            last_name="Smith",
                            company="Northwind Red Systems",
                            company_domain=domain,
                            job_title=title,
                            company_size=size,
                            industry=industry,
                            country=country,
                            source_id="website",
                            channel="web",
                        )
                        result = score(profile, [], rules, now)
                        rows.append(
                            {
                                "k": _archetype_key(ti, si, ii, ci, fm),
                                "score": result.total,
                                "temperature": result.temperature,
                                "stage": result.stage,
                                "breakdown": result.to_dict(),
                            }
                        )
    return rows


def seed_sql(lo: int, hi: int, companies: int) -> str:
    """One statement: leads lo..hi and their email identities."""
    title_pick, size_pick = _pick(TITLES), _pick(SIZES)
    ind_pick, country_pick = _pick(INDUSTRIES), _pick(COUNTRIES)
    (rep_a, a_cut), (rep_b, b_cut), (rep_c, _) = REP_CUTS
    n_s, n_i, n_c = len(SIZES), len(INDUSTRIES), len(COUNTRIES)
    co_a, co_b, co_c = _sql_array(CO_A), _sql_array(CO_B), _sql_array(CO_C)
    return f"""
WITH s AS (
  SELECT g AS i,
         floor({companies} * power(random(), {COMPANY_SKEW}))::int AS c,
         ({_sql_int_array(title_pick)})[1 + floor(random() * {len(title_pick)})::int] AS ti,
         ({_sql_int_array(country_pick)})[1 + floor(random() * {len(country_pick)})::int] AS ci,
         random() < {FREEMAIL_SHARE} AS fm,
         random() < {LIST_NAME_SHARE} AS is_name,
         floor(random() * {len(FIRST)})::int AS fi,
         floor(random() * {len(LAST)})::int AS li,
         floor(random() * {len(FREEMAIL)})::int AS fmd,
         floor(random() * {len(LEGAL)})::int AS sfx,
         now() - random() * interval '730 days' AS recv,
         random() AS r_status, random() AS r_rep, random() AS r_touch, random() AS r_misc
  FROM generate_series({lo}, {hi}) AS g
), co AS (
  SELECT s.*,
         ({_sql_int_array(size_pick)})[1 + (c::bigint * 7919 % {len(size_pick)})::int] AS si,
         ({_sql_int_array(ind_pick)})[1 + ((c::bigint * 104729 + c / 13) % {len(ind_pick)})::int] AS ii,
         {co_a}[1 + c % 50] || ' ' || {co_b}[1 + (c / 50) % 40] || ' '
           || {co_c}[1 + (c / 2000) % 25] AS cname,
         lower({co_a}[1 + c % 50] || {co_b}[1 + (c / 50) % 40] || {co_c}[1 + (c / 2000) % 25])
           || '.' || {_sql_array(TLDS)}[1 + c % {len(TLDS)}] AS cdomain,
         {_sql_array(FIRST)}[1 + fi] AS first,
         {_sql_array(LAST)}[1 + li] AS last
  FROM s
), p AS (
  SELECT co.*, a.score, a.temperature, a.stage, a.breakdown,
         CASE WHEN fm THEN lower(first || last) || i || '@' || {_sql_array(FREEMAIL)}[1 + fmd]
              ELSE lower(first) || '.' || lower(last) || i || '@' || cdomain END AS email,
         CASE WHEN is_name OR a.stage = 'none' THEN 'nurture'
              WHEN r_status < {CONVERTED_SHARE} THEN 'converted'
              ELSE 'assigned' END AS status,
         CASE WHEN r_rep < {a_cut} THEN {_sql_str(rep_a)}
              WHEN r_rep < {b_cut} THEN {_sql_str(rep_b)}
              ELSE {_sql_str(rep_c)} END AS rep
  FROM co
  JOIN bench_archetype a
    ON a.k = (((ti * {n_s} + si) * {n_i} + ii) * {n_c} + ci) * 2 + fm::int
), ins AS (
  INSERT INTO router.lead (
    id, status, is_name, profile, first_name, last_name, company_key, source_id, channel,
    received_at, score, temperature, stage, score_breakdown, owner_rep_id, team_id, queue,
    first_touch_at, last_activity_at, created_at, updated_at)
  SELECT gen_random_uuid(), status, is_name,
         jsonb_build_object(
           'email', email,
           'phone', NULL::text,
           'first_name', first,
           'last_name', last,
           'company', cname || {_sql_array(LEGAL)}[1 + sfx],
           'company_domain', CASE WHEN fm THEN NULL ELSE cdomain END,
           'website', CASE WHEN fm THEN NULL ELSE 'https://www.' || cdomain END,
           'job_title', {_sql_array([t for t, _ in TITLES])}[1 + ti],
           'company_size', {_sql_array([s for s, _ in SIZES])}[1 + si],
           'industry', {_sql_array([n for n, _ in INDUSTRIES])}[1 + ii],
           'country', {_sql_array([c[0] for c in COUNTRIES])}[1 + ci],
           'region', NULL::text,
           'city', {_sql_array([c[1] for c in COUNTRIES])}[1 + ci],
           'timezone', {_sql_array([c[2] for c in COUNTRIES])}[1 + ci],
           'marketing_consent', r_misc < 0.6,
           'message', CASE WHEN r_touch < 0.3
                      THEN {_sql_array(MESSAGES)}[1 + floor(r_touch * 100)::int % {len(MESSAGES)}]
                      END,
           'utm', jsonb_build_object(
             'source', {_sql_array(UTM_SOURCES)}[1 + (i % {len(UTM_SOURCES)})],
             'medium', {_sql_array(UTM_MEDIUMS)}[1 + (i / 7 % {len(UTM_MEDIUMS)})],
             'campaign', {_sql_array(CAMPAIGNS)}[1 + (i / 3 % {len(CAMPAIGNS)})],
             'term', NULL::text, 'content', NULL::text),
           'campaign', {_sql_array(CAMPAIGNS)}[1 + (i / 3 % {len(CAMPAIGNS)})],
           'form_id', {_sql_array(FORMS)}[1 + (i / 5 % {len(FORMS)})],
           'page_url', 'https://www.leadflow.example/'
                       || {_sql_array(FORMS)}[1 + (i / 5 % {len(FORMS)})],
           'custom', '{{}}'::jsonb),
         first, last,
         CASE WHEN fm THEN 'name:' || lower(cname) ELSE cdomain END,
         CASE WHEN is_name THEN 'purchased-lists' WHEN r_misc < 0.08 THEN 'trade-show'
              ELSE 'website' END,
         CASE WHEN is_name THEN 'purchased_list' WHEN r_misc < 0.08 THEN 'trade_show'
              ELSE 'web' END,
         recv, score, temperature, stage, breakdown,
         CASE WHEN status IN ('assigned', 'converted') THEN rep END,
         CASE WHEN status IN ('assigned', 'converted') THEN 'core' END,
         NULL,
         CASE WHEN status = 'converted' OR (status = 'assigned' AND r_touch < 0.8)
              THEN recv + r_touch * interval '3 days' END,
         CASE WHEN status = 'converted' OR (status = 'assigned' AND r_touch < 0.8)
              THEN recv + r_touch * interval '20 days' END,
         recv,
         least(now(), recv + r_misc * interval '60 days')
  FROM p
  RETURNING id, profile ->> 'email' AS email
)
INSERT INTO router.lead_identity (kind, value, lead_id)
SELECT 'email', email, id FROM ins
"""


async def _scalar(engine: AsyncEngine, query: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(query), params)).scalar()


async def _rows(engine: AsyncEngine, query: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(query), params)).all())


async def seed(
    engine: AsyncEngine, n: int, companies: int, progress: Progress, rules_path: Path
) -> dict[str, Any]:
    """Bulk-load n leads + email identities, then VACUUM ANALYZE and CHECKPOINT."""
    timings: dict[str, float] = {}
    task = progress.add_task(f"seeding {n:,} leads", total=n)
    started = time.perf_counter()
    arche = archetypes(rules_path)
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS public.bench_archetype"))
        await conn.execute(
            text(
                "CREATE TABLE public.bench_archetype (k int PRIMARY KEY, score int, "
                "temperature text, stage text, breakdown jsonb)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO public.bench_archetype SELECT * FROM jsonb_to_recordset("
                "CAST(:rows AS jsonb)) AS r(k int, score int, temperature text, stage text, "
                "breakdown jsonb)"
            ),
            {"rows": json.dumps(arche)},
        )
    t_insert = time.perf_counter()
    async with engine.connect() as conn:
        await conn.execute(text("SELECT setseed(0.4242)"))
        await conn.commit()
        for lo in range(1, n + 1, SEED_CHUNK):
            hi = min(n, lo + SEED_CHUNK - 1)
            await conn.execute(text(seed_sql(lo, hi, companies)))
            await conn.commit()
            progress.update(task, completed=hi)
    timings["insert_s"] = time.perf_counter() - t_insert
    progress.update(task, description="VACUUM ANALYZE")
    t_vac = time.perf_counter()
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(text("DROP TABLE public.bench_archetype"))
        await auto.execute(text("VACUUM (ANALYZE) router.lead"))
        await auto.execute(text("VACUUM (ANALYZE) router.lead_identity"))
        timings["vacuum_analyze_s"] = time.perf_counter() - t_vac
        t_cp = time.perf_counter()
        await auto.execute(text("CHECKPOINT"))
        timings["checkpoint_s"] = time.perf_counter() - t_cp
    timings["total_s"] = time.perf_counter() - started
    progress.update(task, visible=False)
    stats = await seed_stats(engine)
    stats.update({k: round(v, 1) for k, v in timings.items()})
    stats["rows_per_s"] = round(n / timings["insert_s"]) if timings["insert_s"] else None
    return stats


async def seed_stats(engine: AsyncEngine) -> dict[str, Any]:
    rows = await _rows(
        engine, "SELECT status, count(*) FROM router.lead GROUP BY 1 ORDER BY 2 DESC"
    )
    per_company = (
        await _rows(
            engine,
            "SELECT count(*) AS companies, percentile_disc(0.5) WITHIN GROUP (ORDER BY n), "
            "percentile_disc(0.99) WITHIN GROUP (ORDER BY n), max(n) FROM "
            "(SELECT company_key, count(*) AS n FROM router.lead GROUP BY 1) t",
        )
    )[0]
    sizes = (
        await _rows(
            engine,
            "SELECT pg_total_relation_size('router.lead'), "
            "pg_total_relation_size('router.lead_identity'), pg_database_size(current_database())",
        )
    )[0]
    return {
        "leads": await _scalar(engine, "SELECT count(*) FROM router.lead"),
        "identities": await _scalar(engine, "SELECT count(*) FROM router.lead_identity"),
        "status": {s: n for s, n in rows},
        "company_keys": per_company[0],
        "leads_per_company_key": {
            "p50": per_company[1],
            "p99": per_company[2],
            "max": per_company[3],
        },
        "lead_table_mb": round(sizes[0] / 2**20),
        "identity_table_mb": round(sizes[1] / 2**20),
        "database_mb": round(sizes[2] / 2**20),
    }


async def check_seed(engine: AsyncEngine, rules_path: Path, sample: int = 300) -> dict[str, Any]:
    """Seeded rows must look like the router's own: same company key, canonical email,
    valid LeadData, same score. A mismatch in keys is a bug in the seed SQL: fail."""
    rules = ScoringRulesSource(rules_path).rules
    total = await _scalar(engine, "SELECT count(*) FROM router.lead")
    pct = min(100.0, 100.0 * 2 * sample / max(1, total))
    rows = await _rows(
        engine,
        "SELECT l.profile, l.company_key, l.score, l.channel, l.source_id, l.is_name, i.value "
        f"FROM router.lead l TABLESAMPLE BERNOULLI ({pct:.4f}) "
        "JOIN router.lead_identity i ON i.lead_id = l.id LIMIT :n",
        n=sample,
    )
    now = datetime.now(UTC)
    score_mismatch = 0
    for profile, key, stored_score, channel, source_id, is_name, identity in rows:
        LeadData.model_validate({k: v for k, v in profile.items() if v is not None})
        expected_key = company_key(
            profile_of(profile, source_id=None, channel=None, purchased_list=False)
        )
        if expected_key != key:
            raise RuntimeError(f"seeded company_key {key!r} != router's {expected_key!r}")
        if canonical_email(profile["email"]) != identity:
            raise RuntimeError(f"seeded identity {identity!r} is not canonical")
        lp = profile_of(profile, source_id=source_id, channel=channel, purchased_list=is_name)
        if score(lp, [], rules, now).total != stored_score:
            score_mismatch += 1
    return {"sampled": len(rows), "score_mismatches": score_mismatch}


# --------------------------------------------------------------------------- people


def _surname(rng: random.Random) -> str:
    """Random letters: never a fuzzy match for a seeded name or another new person."""
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(9)).capitalize()


@dataclass
class People:
    """New people at distinct seeded companies, and returning people from the seed."""

    companies: int
    returning_pool: list[dict[str, Any]]
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    used_companies: set[int] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)

    def _company(self) -> int:
        for _ in range(1000):
            c = self.rng.randrange(self.companies)
            if c not in self.used_companies or len(self.used_companies) >= self.companies:
                self.used_companies.add(c)
                return c
        return self.rng.randrange(self.companies)

    def new(self) -> dict[str, Any]:
        c = self._company()
        domain = company_domain(c)
        while True:
            first, last = self.rng.choice(FIRST), _surname(self.rng)
            email = f"{first.lower()}.{last.lower()}@{domain}"
            if email not in self.emails:
                self.emails.add(email)
                break
        return sales_ready(
            email,
            first_name=first,
            last_name=last,
            company=company_name(c),
            company_domain=domain,
            website=f"https://www.{domain}",
            utm={"source": "google", "medium": "cpc", "campaign": "bench"},
            form_id="demo-request",
        )

    def returning(self) -> dict[str, Any] | None:
        if not self.returning_pool:
            return None
        profile = dict(self.returning_pool.pop())
        profile["message"] = "Back again: can we talk this week?"
        profile["utm"] = {"source": "newsletter", "medium": "email", "campaign": "bench"}
        return {k: v for k, v in profile.items() if v is not None and k != "custom"}

    def batch(self, n: int, returning_pct: float) -> tuple[list[dict[str, Any]], int]:
        """n people; every (100/returning_pct)-th one returning while the pool lasts."""
        out, back = [], 0
        every = round(100 / returning_pct) if returning_pct > 0 else 0
        for i in range(n):
            person = self.returning() if every and i % every == every - 1 else None
            if person is None:
                person = self.new()
            else:
                back += 1
            out.append(person)
        return out, back


def ingest_payload(fields: dict[str, Any]) -> dict[str, Any]:
    """The LeadIn body a website would post for these fields (ingest derives the rest)."""
    keys = (
        "email first_name last_name company website job_title company_size industry country "
        "city timezone marketing_consent message campaign form_id"
    ).split()
    body = {k: fields[k] for k in keys if fields.get(k) is not None}
    utm = fields.get("utm") or {}
    for k in ("source", "medium", "campaign"):
        if utm.get(k):
            body[f"utm_{k}"] = utm[k]
    return body


async def returning_pools(
    engine: AsyncEngine, wanted: int, status_counts: dict[str, int]
) -> list[dict[str, Any]]:
    """Random seeded people coming back: half of them assigned leads (sticky owner), half
    nurture ones (re-scored). Converted leads are left out: they emit no assignment."""
    pools: list[list[dict[str, Any]]] = []
    for n, status in ((wanted - wanted // 2, "assigned"), (wanted // 2, "nurture")):
        have = status_counts.get(status, 0)
        if n <= 0 or not have:
            pools.append([])
            continue
        pct = min(100.0, 100.0 * 3 * n / have)
        rows = await _rows(
            engine,
            f"SELECT profile FROM router.lead TABLESAMPLE BERNOULLI ({pct:.4f}) REPEATABLE (7) "
            "WHERE status = :status",
            status=status,
        )
        pool = [r[0] for r in rows]
        random.Random(11).shuffle(pool)  # the sample is in physical order: shuffle, then cut
        pools.append(pool[:n])
    mixed = [p for pair in zip(*pools, strict=False) for p in pair]
    longer = max(pools, key=len)
    mixed += longer[len(min(pools, key=len)) :]
    return mixed


# --------------------------------------------------------------------------- environment


@dataclass
class Side:
    """One database + topic prefix + its router process."""

    name: str
    env: RouterEnv
    engine: AsyncEngine
    log: Path
    procs: list[ServiceProcess]
    router: ServiceProcess | None = None
    people: People | None = None

    @property
    def pid(self) -> int | None:
        return self.router.proc.pid if self.router and self.router.proc else None

    async def start_router(self) -> None:
        self.router = ServiceProcess(ROUTER, self.env.env(), port=free_port(), log=self.log)
        self.procs.append(self.router)  # torn down with the stack whatever happens
        await asyncio.to_thread(self.router.start)
        await asyncio.to_thread(self.router.wait_ready, 60)
        _assert_loopback(self.router.url)

    def alive(self) -> None:
        if self.router is not None and (
            self.router.proc is None or self.router.proc.poll() is not None
        ):
            raise RuntimeError(f"router ({self.name}) exited; see {self.log}")

    async def processed(self) -> int:
        return int(await _scalar(self.engine, "SELECT count(*) FROM router.processed_event"))

    async def outbox(self) -> int:
        return int(await _scalar(self.engine, "SELECT count(*) FROM router.outbox"))

    async def stop(self) -> None:
        if self.router is not None:
            await asyncio.to_thread(self.router.stop)


@contextlib.contextmanager
def bench_stack(keep: bool) -> Iterator[tuple[Stack, Path, list[ServiceProcess]]]:
    """Own stack on free loopback ports in a temp dir; always torn down (with the services
    registered in the yielded list)."""
    tmp = Path(tempfile.mkdtemp(prefix="leadflow-bench-router-"))
    stack = Stack(
        root=tmp,
        pg_port=free_port(),
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        durable=True,
    )
    procs: list[ServiceProcess] = []
    try:
        with console.status("starting the stack") as status:
            stack.up(progress=lambda msg: status.update(f"{msg} ..."))
        console.log(f"stack in {tmp}: postgres :{stack.pg_port}, kafka :{stack.kafka_port}")
        yield stack, tmp, procs
    finally:
        with console.status("stopping services, Kafka and PostgreSQL"):
            for proc in reversed(procs):
                with contextlib.suppress(Exception):
                    proc.stop()
                with contextlib.suppress(Exception):
                    proc.kill()
            try:
                stack.down()
            except Exception as exc:  # still remove what we can
                console.log(f"[red]stack.down failed: {exc!r}; killing[/red]")
                with contextlib.suppress(Exception):
                    stack.kafka.kill()
                with contextlib.suppress(Exception):
                    stack.postgres.stop("immediate")
            if keep:
                console.log(f"kept {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
        console.log("stack stopped and removed")


# --------------------------------------------------------------------------- throughput


async def publish(
    producer: EventProducer, env: RouterEnv, people: list[dict[str, Any]]
) -> tuple[list[str], float]:
    items = [received(p) for p in people]
    ids = [str(e.id) for _, _, e in items]
    started = time.perf_counter()
    for lo in range(0, len(items), PUBLISH_CHUNK):
        chunk = items[lo : lo + PUBLISH_CHUNK]
        await producer.publish_many([(env.topic(t), k, e, ()) for t, k, e in chunk])
    return ids, time.perf_counter() - started


class Meter(CpuMeter):
    """run.py's CpuMeter with the router as its 'server', plus other processes of ours
    (ingest, the idle router of the other database) measured and kept out of 'other'."""

    def __init__(self, stack: Stack, router: int | None, extra: dict[str, int | None]) -> None:
        super().__init__(router, kafka=stack.kafka.pid(), postmaster=_postmaster_pid(stack))
        self.extra = extra

    def __enter__(self) -> Meter:
        self.extra0 = {k: _proc_cpu_seconds(pid) for k, pid in self.extra.items()}
        super().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        wall = time.perf_counter() - self.wall0
        cpu = self.result
        cpu["router_pct"] = cpu.pop("server_pct")
        for name, pid in self.extra.items():
            before, after = self.extra0[name], _proc_cpu_seconds(pid)
            pct = (
                None if before is None or after is None else round(100 * (after - before) / wall, 1)
            )
            cpu[f"{name}_pct"] = pct
            if pct is not None and cpu["other_pct"] is not None:
                cpu["other_pct"] = round(max(0.0, cpu["other_pct"] - pct), 1)


async def settle(
    stack: Stack, sides: list[Side], extra: dict[str, int | None], limit: float
) -> dict[str, float]:
    """The next measurement starts from rest: outboxes relayed, then (bounded by ``limit``)
    until other work on the machine uses under RUN_QUIET_OTHER_PCT % of a core over 2 s."""
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        counts = [await s.outbox() for s in sides if s.router is not None]
        if not any(counts):
            break
        await asyncio.sleep(0.5)
    ours = {f"router_{s.name}": s.pid for s in sides if s.router is not None} | extra
    started = time.perf_counter()
    while True:
        with Meter(stack, None, ours) as meter:
            await asyncio.sleep(2.0)
        other = meter.result["other_pct"] or 0.0
        waited = time.perf_counter() - started
        if other <= RUN_QUIET_OTHER_PCT or waited >= limit:
            break
        console.log(
            f"[yellow]other work on the machine uses {other:.0f} % of a core; waiting "
            f"({waited:.0f}/{limit:.0f} s)[/yellow]"
        )
    return {"other_pct": round(other, 1), "waited_s": round(waited, 1)}


async def burst(
    side: Side,
    stack: Stack,
    producer: EventProducer,
    params: dict[str, Any],
    rep: int,
    progress: Progress,
    task: Any,
    others: list[Side],
) -> dict[str, Any]:
    assert side.people is not None
    n = params["leads"]
    people, back = side.people.batch(n, params["returning_pct"])
    before = await side.processed()
    first = side.router is None
    label = f"rep {rep + 1}/{params['repeats']} {side.name:5} burst of {n:,}"
    progress.reset(task, total=n, completed=0, description=label)
    ids: list[str] = []
    publish_s = 0.0
    if first:  # published first, timed from the router's readiness
        ids, publish_s = await publish(producer, side.env, people)
        await side.start_router()
        mode = "from router readiness (events published before start)"
    else:
        mode = "from the start of publishing (router already up)"
    idle = {f"idle_router_{s.name}": s.pid for s in others if s.router is not None}
    meter = Meter(stack, side.pid, idle)
    with meter:
        t0 = time.perf_counter()
        t0_wall = datetime.now(UTC)
        if not first:
            ids, publish_s = await publish(producer, side.env, people)
        deadline = t0 + params["burst_timeout"]
        done = 0
        while True:
            done = await side.processed() - before
            progress.update(task, completed=min(done, n))
            if done >= n or time.perf_counter() > deadline:
                break
            side.alive()
            await asyncio.sleep(0.2)
        wall = time.perf_counter() - t0
    timed_out = done < n
    span = (
        await _rows(
            side.engine,
            "SELECT min(processed_at), max(processed_at), count(*) FROM router.processed_event "
            "WHERE event_id = ANY(:ids)",
            ids=ids,
        )
    )[0]
    first_at, last_at, counted = span
    steady = (counted - 1) / (last_at - first_at).total_seconds() if counted > 1 else None
    run = {
        "database": side.name,
        "repeat": rep + 1,
        "leads": n,
        "returning": back,
        "timing": mode,
        "processed": done,
        "timed_out": timed_out,
        "wall_s": round(wall, 2),
        "leads_per_s": round(done / wall, 1),
        "steady_leads_per_s": round(steady, 1) if steady else None,
        "first_processed_after_s": (
            round((first_at - t0_wall).total_seconds(), 2) if first_at else None
        ),
        "publish_s": round(publish_s, 2),
        "cpu": meter.result,
    }
    progress.console.log(
        f"{label}: {run['leads_per_s']:.1f} leads/s over {wall:.1f} s ({mode}); steady "
        f"{_fmt(run['steady_leads_per_s'])}/s; router CPU {run['cpu']['router_pct']} %, "
        f"postgres {run['cpu']['postgres_pct']} %, other {run['cpu']['other_pct']} %"
        + (" [red]TIMED OUT[/red]" if timed_out else "")
    )
    return run


# --------------------------------------------------------------------------- latency


class AssignedReader:
    """Reads ``leads.assigned.v1`` from its current end; first read time per submission."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.seen: dict[str, float] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AssignedReader:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
        )
        await self.consumer.start()
        partitions = None
        for _ in range(75):
            cluster = await self.consumer._client.fetch_all_metadata()
            partitions = cluster.partitions_for_topic(self.topic)
            if partitions:
                break
            await asyncio.sleep(0.2)
        if not partitions:
            await self.consumer.stop()
            raise RuntimeError(f"topic {self.topic} does not exist")
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while not self._stop.is_set():
            batch = await self.consumer.getmany(timeout_ms=100, max_records=1000)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        sid = json.loads(record.value)["data"].get("submission_id")
                        if sid and sid not in self.seen:
                            self.seen[sid] = now

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)
        await self.consumer.stop()


def _lat(values: list[float]) -> dict[str, float | None]:
    ms = sorted(v * 1000 for v in values)
    return {
        "p50": percentile(ms, 50),
        "p90": percentile(ms, 90),
        "p99": percentile(ms, 99),
        "max": ms[-1] if ms else None,
    }


async def open_loop(
    ingest_url: str,
    reader: AssignedReader,
    people: People,
    *,
    rate: float,
    params: dict[str, Any],
    progress: Progress,
    task: Any,
    label: str,
) -> dict[str, Any]:
    warmup, duration = params["warmup"], params["duration"]
    n = round(rate * (warmup + duration))
    first_measured = round(rate * warmup)
    interval = 1.0 / rate
    persons, back = people.batch(n, params["returning_pct"])
    prepared = [signed_request(ingest_payload(p)) for p in persons]  # sign up front
    scheduled = [0.0] * n
    lag = [0.0] * n
    responded = [0.0] * n
    status: list[int | str] = [0] * n
    lead_ids: list[str | None] = [None] * n
    total = warmup + duration
    progress.reset(task, total=total, completed=0, description=label)

    async with ConnectionPool(min(64, max(4, int(rate * 2)))) as pool:

        async def one(i: int) -> None:
            body, headers = prepared[i]
            try:
                async with asyncio.timeout(params["timeout"]), pool.client() as client:
                    response = await client.post(ingest_url, content=body, headers=headers)
                status[i] = response.status_code
                if response.status_code == 202:
                    lead_ids[i] = response.json()["lead_id"]
            except TimeoutError:
                status[i] = "timeout"
            except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
                status[i] = type(exc).__name__
            responded[i] = time.perf_counter()

        t0 = time.perf_counter() + 0.05
        tasks = []
        for i in range(n):
            scheduled[i] = due = t0 + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lag[i] = time.perf_counter() - due
            tasks.append(asyncio.create_task(one(i)))
            if i % max(1, int(rate // 4)) == 0:
                progress.update(task, completed=min(total, time.perf_counter() - t0))
        last_send = time.perf_counter()
        await asyncio.gather(*tasks)

    accepted = [i for i in range(n) if lead_ids[i] is not None]
    backlog_at_last_send = sum(
        1 for i in accepted if reader.seen.get(lead_ids[i] or "", float("inf")) > last_send
    )
    drain_deadline = last_send + params["drain_timeout"]
    progress.update(task, description=f"{label}: waiting for assignments")
    while time.perf_counter() < drain_deadline:
        if all(lead_ids[i] in reader.seen for i in accepted):
            break
        await asyncio.sleep(0.05)
    arrivals = {i: reader.seen[lead_ids[i] or ""] for i in accepted if lead_ids[i] in reader.seen}
    measured = range(first_measured, n)
    window_start, window_end = t0 + warmup, t0 + warmup + duration
    latencies = [arrivals[i] - scheduled[i] for i in measured if i in arrivals]
    half = first_measured + (n - first_measured) // 2
    first_half = [arrivals[i] - scheduled[i] for i in range(first_measured, half) if i in arrivals]
    second_half = [arrivals[i] - scheduled[i] for i in range(half, n) if i in arrivals]
    http_lat = [responded[i] - scheduled[i] for i in measured if status[i] == 202]
    outcomes = Counter(str(status[i]) for i in measured)
    errors = {k: v for k, v in outcomes.items() if k != "202"}
    lost_ids = [lead_ids[i] for i in measured if lead_ids[i] is not None and i not in arrivals]
    lags = sorted(lag[i] * 1000 for i in measured)
    in_window = sum(1 for t in arrivals.values() if window_start <= t < window_end)
    drain_s = max(arrivals.values()) - last_send if arrivals else None
    return {
        "offered_rps": rate,
        "sent": len(measured),
        "returning": back,
        "accepted": sum(1 for i in measured if lead_ids[i] is not None),
        "assigned": len(latencies),
        "achieved_assigned_per_s": round(in_window / duration, 1),
        "http_errors": errors,
        "lost": len(lost_ids),
        "lost_ids": lost_ids,
        "late": 0,  # filled in at the end: lost here, read after the drain deadline
        "latency_ms": _lat(latencies),
        "latency_first_half_p50_ms": percentile(sorted(x * 1000 for x in first_half), 50),
        "latency_second_half_p50_ms": percentile(sorted(x * 1000 for x in second_half), 50),
        "http_latency_ms": _lat(http_lat),
        "send_lag_ms": {"p99": percentile(lags, 99), "max": lags[-1] if lags else None},
        "backlog_at_last_send": backlog_at_last_send,
        "drain_s": round(drain_s, 2) if drain_s is not None else None,
    }


def saturated(run: dict[str, Any]) -> bool:
    first, second = run["latency_first_half_p50_ms"], run["latency_second_half_p50_ms"]
    growing = first is not None and second is not None and second > max(2 * first, 1000)
    return bool(
        run["lost"]
        or run["achieved_assigned_per_s"] < SATURATION_ACHIEVED * run["offered_rps"]
        or run["backlog_at_last_send"] > SATURATION_BACKLOG_S * run["offered_rps"]
        or growing
    )


# --------------------------------------------------------------------------- orchestration


async def run_all(
    stack: Stack, tmp: Path, procs: list[ServiceProcess], params: dict[str, Any]
) -> dict[str, Any]:
    settings_rules = CONFIG_DIR / "scoring.yaml"  # the rules the router runs with
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    result: dict[str, Any] = {}
    main_engine = db.create_engine(stack.database_url, pool_size=2)
    main = Side(
        "1M" if params["seed_leads"] == 1_000_000 else f"{params['seed_leads']:,}",
        RouterEnv(stack=stack, prefix="benchseeded.", database_url=stack.database_url),
        main_engine,
        tmp / "router-seeded.log",
        procs,
    )
    await ensure_topics(stack.bootstrap, all_topics(main.env.prefix))
    sides = [main]
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            # ---- seeding
            result["seed"] = await seed(
                main_engine, params["seed_leads"], params["companies"], progress, settings_rules
            )
            s = result["seed"]
            progress.console.log(
                f"seeded {s['leads']:,} leads + {s['identities']:,} identities in "
                f"{s['insert_s']:.1f} s ({s['rows_per_s']:,} leads/s); VACUUM ANALYZE "
                f"{s['vacuum_analyze_s']:.1f} s, CHECKPOINT {s['checkpoint_s']:.1f} s; "
                f"total {s['total_s']:.1f} s; {s['lead_table_mb']:,} MB lead table; "
                f"statuses {s['status']}"
            )
            result["seed"]["check"] = await check_seed(main_engine, settings_rules)
            result["postgres_settings"] = {
                name: await _scalar(main_engine, f"SHOW {name}")
                for name in (
                    "server_version",
                    "shared_buffers",
                    "fsync",
                    "synchronous_commit",
                    "work_mem",
                    "max_wal_size",
                )
            }
            n_returning_tp = params["repeats"] * round(
                params["leads"] * params["returning_pct"] / 100
            )
            n_returning_lat = (
                sum(
                    round(
                        r * (params["warmup"] + params["duration"]) * params["returning_pct"] / 100
                    )
                    + 1
                    for r in params["rates"]
                )
                * params["repeats"]
            )
            pool = await returning_pools(
                main_engine, n_returning_tp + n_returning_lat, result["seed"]["status"]
            )
            lat_pool, tp_pool = pool[:n_returning_lat], pool[n_returning_lat:]
            main.people = People(params["companies"], tp_pool)

            # ---- throughput: seeded vs empty, alternating
            producer = EventProducer(stack.bootstrap)
            await producer.start(required=True)
            try:
                if params["baseline"]:
                    # a second database on the same server, migrated, with its own prefix
                    empty_env = await make_router_env(stack)
                    empty = Side(
                        "empty",
                        empty_env,
                        db.create_engine(empty_env.database_url, pool_size=2),
                        tmp / "router-empty.log",
                        procs,
                    )
                    # the same kinds of people; in the empty database nobody is known
                    empty.people = People(params["companies"], list(tp_pool))
                    empty.people.rng = random.Random(8)
                    sides.append(empty)
                runs = []
                task = progress.add_task("", total=params["leads"])
                for rep in range(params["repeats"]):
                    order = sides if rep % 2 == 0 else list(reversed(sides))
                    for side in order:
                        before = await settle(stack, sides, {}, params["wait_idle_run"])
                        others = [s for s in sides if s is not side]
                        run = await burst(
                            side, stack, producer, params, rep, progress, task, others
                        )
                        run["before"] = before
                        runs.append(run)
                result["throughput_runs"] = runs
            finally:
                await producer.stop()

            # ---- latency: ingest + the seeded database's router
            for side in sides[1:]:
                await side.stop()
            main.alive()
            ingest = ServiceProcess(
                INGEST,
                # tests/signing.py signs with the dev secret
                main.env.env(LEADFLOW_SOURCE_WEBSITE_SECRETS=DEV_WEBHOOK_SECRET),
                port=free_port(),
                log=tmp / "ingest.log",
            )
            procs.append(ingest)
            await asyncio.to_thread(ingest.start)
            await asyncio.to_thread(ingest.wait_ready)
            ingest_url = f"{ingest.url}{LEADS_PATH}"
            _assert_loopback(ingest_url)
            lat_people = People(params["companies"], lat_pool)
            lat_people.rng = random.Random(9)
            lat_people.used_companies = set(main.people.used_companies)
            latency_runs = []
            task = progress.add_task("", total=1)
            async with AssignedReader(
                stack.bootstrap, main.env.topic(LEAD_ASSIGNED.topic)
            ) as reader:
                for rep in range(params["repeats"]):
                    for rate in params["rates"]:
                        ingest_pid = {"ingest": ingest.proc.pid if ingest.proc else None}
                        before = await settle(stack, [main], ingest_pid, params["wait_idle_run"])
                        label = f"rep {rep + 1}/{params['repeats']} latency {rate:g} leads/s"
                        meter = Meter(stack, main.pid, ingest_pid)
                        with meter:
                            run = await open_loop(
                                ingest_url, reader, lat_people, rate=rate, params=params,
                                progress=progress, task=task, label=label,
                            )  # fmt: skip
                        cpu = meter.result
                        run.update(repeat=rep + 1, cpu=cpu, before=before, saturated=saturated(run))
                        latency_runs.append(run)
                        lat = run["latency_ms"]
                        progress.console.log(
                            f"{label}: assigned {run['achieved_assigned_per_s']:.1f}/s, p50 "
                            f"{_fmt(lat['p50'], 0)} ms, p99 {_fmt(lat['p99'], 0)} ms, max "
                            f"{_fmt(lat['max'], 0)} ms; lost {run['lost']}, http errors "
                            f"{sum(run['http_errors'].values())}; router CPU {cpu['router_pct']} %, "
                            f"other {cpu['other_pct']} %"
                            + (" [yellow]SATURATED[/yellow]" if run["saturated"] else "")
                        )
                        main.alive()
                # anything lost at its deadline but read later is late, not lost
                await asyncio.sleep(2.0)
                for run in latency_runs:
                    late = sum(1 for sid in run["lost_ids"] if sid in reader.seen)
                    run["late"] = late
                    run["lost"] -= late
                    run["lost_ids"] = [sid for sid in run["lost_ids"] if sid not in reader.seen]
            result["latency_runs"] = latency_runs
            progress.update(task, visible=False)
    finally:
        for side in sides:
            with contextlib.suppress(Exception):
                await side.stop()
            with contextlib.suppress(Exception):
                await side.engine.dispose()
    return result


# --------------------------------------------------------------------------- aggregation


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 2) if present else None


CPU_KEYS = (
    "router_pct",
    "ingest_pct",
    "postgres_pct",
    "kafka_pct",
    "loadgen_pct",
    "other_pct",
    "machine_busy_pct",
)


def _ms_per_lead(run: dict[str, Any], key: str) -> float | None:
    """CPU milliseconds per processed lead: CPU % of one core / leads per second."""
    pct = run["cpu"].get(key)
    return (
        round(10 * pct / run["leads_per_s"], 1) if pct is not None and run["leads_per_s"] else None
    )


def summarize(result: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    tp: dict[str, Any] = {}
    for name in dict.fromkeys(r["database"] for r in result["throughput_runs"]):
        runs = [r for r in result["throughput_runs"] if r["database"] == name]
        tp[name] = {
            "leads_per_s": _median([r["leads_per_s"] for r in runs]),
            "steady_leads_per_s": _median([r["steady_leads_per_s"] for r in runs]),
            "per_repeat": [r["leads_per_s"] for r in runs],
            "timed_out": sum(r["timed_out"] for r in runs),
            "router_cpu_ms_per_lead": _median([_ms_per_lead(r, "router_pct") for r in runs]),
            "postgres_cpu_ms_per_lead": _median([_ms_per_lead(r, "postgres_pct") for r in runs]),
            "cpu_pct": {k: _median([r["cpu"].get(k) for r in runs]) for k in CPU_KEYS},
        }
    names = list(tp)
    if len(names) == 2:
        a, b = tp[names[0]], tp[names[1]]
        tp["ratio_seeded_over_empty"] = {
            "leads_per_s": round(a["leads_per_s"] / b["leads_per_s"], 2)
            if a["leads_per_s"] and b["leads_per_s"]
            else None,
            "steady_leads_per_s": round(a["steady_leads_per_s"] / b["steady_leads_per_s"], 2)
            if a["steady_leads_per_s"] and b["steady_leads_per_s"]
            else None,
        }
    lat = []
    for rate in params["rates"]:
        runs = [r for r in result["latency_runs"] if r["offered_rps"] == rate]
        lat.append(
            {
                "offered_rps": rate,
                "achieved_assigned_per_s": _median([r["achieved_assigned_per_s"] for r in runs]),
                "latency_ms": {
                    k: _median([r["latency_ms"][k] for r in runs])
                    for k in ("p50", "p90", "p99", "max")
                },
                "http_latency_ms": {
                    k: _median([r["http_latency_ms"][k] for r in runs]) for k in ("p50", "p99")
                },
                "sent_total": sum(r["sent"] for r in runs),
                "lost_total": sum(r["lost"] for r in runs),
                "late_total": sum(r["late"] for r in runs),
                "http_errors_total": sum(sum(r["http_errors"].values()) for r in runs),
                "saturated_repeats": sum(r["saturated"] for r in runs),
                "backlog_at_last_send": _median([r["backlog_at_last_send"] for r in runs]),
                "drain_s": _median([r["drain_s"] for r in runs]),
                "send_lag_p99_ms": _median([r["send_lag_ms"]["p99"] for r in runs]),
                "cpu_pct": {k: _median([r["cpu"].get(k) for r in runs]) for k in CPU_KEYS},
            }
        )
    return {"throughput": tp, "latency": lat}


# --------------------------------------------------------------------------- reporting


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    summary, p = result["summary"], result["parameters"]
    tp = summary["throughput"]
    names = [k for k in tp if k != "ratio_seeded_over_empty"]
    tp_rows = [
        [
            f"{name} leads" if name != "empty" else "empty (baseline)",
            _fmt(tp[name]["leads_per_s"]),
            _fmt(tp[name]["steady_leads_per_s"]),
            ", ".join(_fmt(v) for v in tp[name]["per_repeat"]),
            str(tp[name]["timed_out"]),
            _fmt(tp[name]["cpu_pct"]["router_pct"], 0),
            _fmt(tp[name]["router_cpu_ms_per_lead"]),
            _fmt(tp[name]["cpu_pct"]["postgres_pct"], 0),
            _fmt(tp[name]["postgres_cpu_ms_per_lead"]),
            _fmt(tp[name]["cpu_pct"]["machine_busy_pct"], 0),
            _fmt(tp[name]["cpu_pct"]["other_pct"], 0),
        ]
        for name in names
    ]
    if "ratio_seeded_over_empty" in tp:
        ratio = tp["ratio_seeded_over_empty"]
        tp_rows.append(
            [
                f"ratio {names[0]} / empty",
                _fmt(ratio["leads_per_s"], 2),
                _fmt(ratio["steady_leads_per_s"], 2),
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
            ]
        )
    lat_rows = []
    for row in summary["latency"]:
        lat = row["latency_ms"]
        lat_rows.append(
            [
                _fmt(row["offered_rps"], 0),
                _fmt(row["achieved_assigned_per_s"]),
                _fmt(lat["p50"], 0),
                _fmt(lat["p90"], 0),
                _fmt(lat["p99"], 0),
                _fmt(lat["max"], 0),
                f"{row['lost_total']} / {row['late_total']}",
                str(row["http_errors_total"]),
                _fmt(row["http_latency_ms"]["p99"], 0),
                _fmt(row["drain_s"], 2),
                f"{row['saturated_repeats']}/{p['repeats']}",
                _fmt(row["cpu_pct"]["router_pct"], 0),
                _fmt(row["cpu_pct"]["ingest_pct"], 0),
                _fmt(row["cpu_pct"]["postgres_pct"], 0),
                _fmt(row["cpu_pct"]["machine_busy_pct"], 0),
                _fmt(row["cpu_pct"]["other_pct"], 0),
            ]
        )
    return [
        (
            f"Router throughput: bursts of {p['leads']:,} leads.received.v1 "
            f"({p['returning_pct']:g} % returning), medians of {p['repeats']} repeat(s)",
            [
                "database",
                "leads/s (wall)",
                "leads/s (steady)",
                "per repeat",
                "timed out",
                "router CPU %",
                "router CPU ms/lead",
                "postgres CPU %",
                "postgres CPU ms/lead",
                "machine busy %",
                "other CPU %",
            ],
            tp_rows,
        ),
        (
            f"End-to-end latency, POST /v1/leads -> leads.assigned.v1 read ({p['warmup']:g} s "
            f"warm-up + {p['duration']:g} s, medians of {p['repeats']} repeat(s); lost/late and "
            "errors summed)",
            [
                "offered/s",
                "assigned/s",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "max ms",
                "lost / late",
                "http errors",
                "http p99 ms",
                "drain s",
                "saturated",
                "router CPU %",
                "ingest CPU %",
                "postgres CPU %",
                "machine busy %",
                "other CPU %",
            ],
            lat_rows,
        ),
    ]


def print_tables(result: dict[str, Any]) -> None:
    for title, header, rows in tables(result):
        table = Table(title=title, title_justify="left")
        for i, col in enumerate(header):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)


def _before(run: dict[str, Any]) -> str:
    b = run.get("before") or {}
    return f"other {b.get('other_pct', '-')} % after waiting {b.get('waited_s', '-')} s"


def markdown(result: dict[str, Any]) -> str:
    m, p, s = result["machine"], result["parameters"], result["seed"]
    idle = p["idle_before_start"]
    quiet = "quiet" if idle["quiet"] else "NOT quiet: other jobs were running"
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    pg = result["postgres_settings"]
    rates = ", ".join(f"{r:g}" for r in p["rates"])
    lines = [
        "# Router benchmark: throughput with 1M existing leads vs empty, end-to-end latency",
        "",
        f"- date: {m['date']} (whole run {result['elapsed_s']:.0f} s)",
        f"- machine: {m['nproc']} CPU(s), {m['cpu_model']}, {m['memory_mb']} MB RAM, "
        f"Linux {m['kernel']}; load average at start {m['loadavg_at_start']}",
        f"- Python {m['python']}, Kafka {m['kafka_version']}, PostgreSQL {pg['server_version']} "
        f"(shared_buffers {pg['shared_buffers']}, fsync {pg['fsync']}, synchronous_commit "
        f"{pg['synchronous_commit']}); {packages}",
        f"- command: `{p['command']}`",
        f"- machine before start: {idle['busy_pct']:g} % busy over 3 s after waiting "
        f"{idle['waited_s']:g} s ({quiet})",
        f"- parameters: {p['seed_leads']:,} seeded leads over {p['companies']:,} companies; "
        f"bursts of {p['leads']:,} leads ({p['returning_pct']:g} % returning); latency at "
        f"{rates} leads/s, {p['warmup']:g} s warm-up + {p['duration']:g} s measured, drain "
        f"timeout {p['drain_timeout']:g} s; {p['repeats']} repeat(s) of everything, medians "
        f"reported; routing file `tests/fixtures/routing-24x7.yaml`",
        "",
        f"> **Caveat: this machine has {m['nproc']} cores and everything shares them**: the "
        "router (one process, one event loop, one transaction per lead), PostgreSQL (fsync on), "
        "Kafka (a JVM), ingest and the load generator. The router is known to process roughly "
        "40-50 leads/s here (to be optimized later), so the latency rates stay below that; a "
        "rate it cannot sustain is reported as saturated, not hidden. Compare the seeded and "
        "empty figures from the same run rather than reading absolute numbers as production "
        "capacity. 'other CPU' is CPU used by anything else on the machine (other jobs, the "
        "kernel): when it is high the run was disturbed.",
        "",
        "## Seeding",
        "",
        f"- {s['leads']:,} leads + {s['identities']:,} email identities in {s['insert_s']:.1f} s "
        f"({s['rows_per_s']:,} leads/s; {-(-p['seed_leads'] // SEED_CHUNK)} INSERT ... SELECT "
        f"FROM generate_series statements of up to {SEED_CHUNK:,} rows, leads and identities "
        f"in one statement each), VACUUM ANALYZE {s['vacuum_analyze_s']:.1f} s, CHECKPOINT "
        f"{s['checkpoint_s']:.1f} s; total {s['total_s']:.1f} s",
        f"- statuses: {', '.join(f'{k} {v:,}' for k, v in s['status'].items())}",
        f"- {s['company_keys']:,} company keys (domain, or `name:` for free-mail leads); leads "
        f"per key p50 {s['leads_per_company_key']['p50']}, p99 "
        f"{s['leads_per_company_key']['p99']}, max {s['leads_per_company_key']['max']:,} "
        f"(company = floor(companies x u^{COMPANY_SKEW}), u uniform: a few big, a long tail)",
        f"- sizes: router.lead {s['lead_table_mb']:,} MB, router.lead_identity "
        f"{s['identity_table_mb']:,} MB, database {s['database_mb']:,} MB",
        f"- check: {s['check']['sampled']} random rows re-derived with the router's own code "
        f"(company key, canonical email, LeadData validation: all equal; score mismatches "
        f"{s['check']['score_mismatches']})",
        "",
    ]
    for title, header, rows in tables(result):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines.append("")
    lines += [
        "'leads/s (wall)' = burst size / time until `router.processed_event` held the whole "
        "burst (see Method for where the clock starts). 'leads/s (steady)' = (n - 1) / (last - "
        "first `processed_at` of the burst): the processing rate without start-up and "
        "publishing. 'drain s' = last assignment read - last request sent; 'lost' = accepted "
        "by ingest but no assignment read within the drain timeout, 'late' = read only after "
        "it. 'saturated' = repeats where the router did not keep up (assigned/s under "
        f"{SATURATION_ACHIEVED:.0%} of offered, lost events, more than "
        f"{SATURATION_BACKLOG_S:g} s of offered leads still unassigned when the last request "
        "was sent, or median latency in the second half of the run over twice the first half "
        "and over 1 s).",
        "",
    ]
    for run in result["throughput_runs"]:
        lines.append(
            f"- throughput {run['database']} repeat {run['repeat']}: {run['leads_per_s']:g} "
            f"leads/s in {run['wall_s']:g} s ({run['timing']}); steady "
            f"{_fmt(run['steady_leads_per_s'])}; first processed after "
            f"{_fmt(run['first_processed_after_s'], 2)} s; publishing {run['publish_s']:g} s; "
            f"{run['returning']} returning; CPU router {run['cpu']['router_pct']:g} %, "
            f"postgres {run['cpu']['postgres_pct']:g} %, kafka {run['cpu']['kafka_pct']:g} %, "
            f"other {run['cpu']['other_pct']:g} % (before: {_before(run)})"
            + ("; TIMED OUT" if run["timed_out"] else "")
        )
    lines.append("")
    for run in result["latency_runs"]:
        lat = run["latency_ms"]
        lines.append(
            f"- latency {run['offered_rps']:g}/s repeat {run['repeat']}: assigned "
            f"{run['achieved_assigned_per_s']:g}/s, p50 {_fmt(lat['p50'], 0)} / p90 "
            f"{_fmt(lat['p90'], 0)} / p99 {_fmt(lat['p99'], 0)} / max {_fmt(lat['max'], 0)} ms; "
            f"first/second-half p50 {_fmt(run['latency_first_half_p50_ms'], 0)}/"
            f"{_fmt(run['latency_second_half_p50_ms'], 0)} ms; backlog at last send "
            f"{run['backlog_at_last_send']}; lost {run['lost']}, late {run['late']}; CPU "
            f"router {run['cpu']['router_pct']:g} %, ingest {run['cpu'].get('ingest_pct')} %, "
            f"postgres {run['cpu']['postgres_pct']:g} %, kafka {run['cpu']['kafka_pct']:g} %, "
            f"other {run['cpu']['other_pct']:g} % (before: {_before(run)})"
            + ("; SATURATED" if run["saturated"] else "")
        )
    disturbed = [
        f"{r.get('database', 'latency')} rep {r['repeat']}"
        + (f" {r['offered_rps']:g}/s" if "offered_rps" in r else "")
        + f" (other {r['cpu']['other_pct']:g} %)"
        for r in [*result["throughput_runs"], *result["latency_runs"]]
        if (r["cpu"].get("other_pct") or 0) > DISTURBED_OTHER_PCT
    ]
    all_runs = [*result["throughput_runs"], *result["latency_runs"]]
    not_quiet = sum(
        1 for r in all_runs if (r.get("before") or {}).get("other_pct", 0) > RUN_QUIET_OTHER_PCT
    )
    waited = sum((r.get("before") or {}).get("waited_s", 0) for r in all_runs)
    lines += [
        "",
        f"Runs disturbed by other work on the machine ('other' CPU over {DISTURBED_OTHER_PCT} % "
        "of a core; medians limit their weight): " + ("; ".join(disturbed) or "none") + ".",
        f"Before each measurement the benchmark waited (up to {p.get('wait_idle_run', 0):g} s) for other "
        f"work to drop under {RUN_QUIET_OTHER_PCT:g} % of a core: {waited:.0f} s in all, "
        f"including the 2 s check before each; {not_quiet} of {len(all_runs)} measurement(s) started with the machine still "
        "busy.",
        "",
        "## Method",
        "",
        "- Own throw-away stack in a temp dir on free loopback ports: embedded PostgreSQL with "
        "fsync on (its default configuration), a KRaft Kafka broker, migrations, topics. Router "
        "and ingest are one-worker uvicorn processes (`ServiceProcess`), log level WARNING, "
        "`LEADFLOW_ENV=test`, routing file `tests/fixtures/routing-24x7.yaml` (everyone always "
        "at work, so results do not depend on the time of day).",
        "- Seed: leads with full profiles (names, company with or without legal suffix, domain "
        "and website or a free-mail address, title, size and industry per company, country, "
        "city, time zone, UTM, form, message), scored per (title, size, industry, country, "
        "free-mail) combination with the shipped scoring rules; below MQL -> `nurture`, else "
        f"`assigned` ({1 - CONVERTED_SHARE:.0%}) or `converted` to rep-a/b/c in a 3:2:1 mix; "
        f"{LIST_NAME_SHARE:.0%} purchased-list names. No SLA clocks, assignments or "
        "activities are seeded, and `router.rep.open_leads` stays as the router seeds it "
        "(with real counts every rep would be over the fixture's capacity and every lead "
        "would queue).",
        "- New people: distinct people (random 9-letter surnames: no fuzzy match) at distinct "
        "companies drawn uniformly from the seeded ones, so the router's fuzzy-candidate "
        "lookup by company key reads their seeded colleagues; sales-ready profiles (assigned "
        "by round robin). Returning people: random seeded leads that are not converted, "
        "posted again with their email and profile (matched by email: sticky owner or "
        "nurture). The empty baseline gets the same kinds of events; there nobody is known.",
        "- Throughput: the seeded and empty databases each have their own topic prefix, "
        "consumer group and router process; repeats alternate which database goes first. "
        "The first burst of each is published (acks=all) before its router starts and is "
        "timed from the router's readiness (so it includes the consumer group join); later "
        "bursts are published to the running router and timed from the start of publishing. "
        "Before each burst every router's outbox is drained and other work on the machine "
        "is checked over 2 s (see above).",
        "- Latency: ingest and the seeded database's router share the prefix; requests are "
        "scheduled at t0 + i/rate and sent then whatever happened to earlier ones (open "
        "loop), signed with the `standardwebhooks` library; an assigned-topic reader "
        "(no consumer group, from the topic's end) notes when each `submission_id` is first "
        "read; latency = that time - the *scheduled* send time, so queueing anywhere "
        "counts. Warm-up requests are sent but not measured. 'assigned/s' = assignments read "
        "inside the measured window / its length.",
        "- CPU figures come from /proc (postgres = postmaster + backends), in % of one core; "
        "'machine busy' is % of all cores; 'CPU ms/lead' = CPU % / leads per second. A first "
        "burst's 'first processed after' can be slightly negative: readiness is polled every "
        "0.2 s. Raw per-repeat figures are in `router.json`.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def _parse_rates(value: str) -> list[float]:
    try:
        rates = [float(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter("comma-separated numbers, e.g. 10,20,30") from None
    if not rates or any(not 0 < r <= MAX_RATE for r in rates):
        raise typer.BadParameter(f"each rate must be in (0, {MAX_RATE:g}]")
    return rates


@app.command()
def main(
    seed_leads: Annotated[
        int, typer.Option(help="existing leads seeded into router.lead")
    ] = 1_000_000,
    companies: Annotated[int, typer.Option(help="companies the seeded leads work at")] = 50_000,
    leads: Annotated[int, typer.Option(help="leads per throughput burst")] = 5000,
    returning_pct: Annotated[
        float, typer.Option(help="% of published leads that are returning seeded people")
    ] = 10.0,
    rates: Annotated[
        str, typer.Option(help="latency: offered rates, leads/s, comma separated")
    ] = "10,20,30",
    duration: Annotated[float, typer.Option(help="latency: measured seconds per run")] = 20.0,
    warmup: Annotated[
        float, typer.Option(help="latency: unmeasured seconds before each run")
    ] = 3.0,
    repeats: Annotated[
        int, typer.Option(help="repeats of every measurement (medians reported)")
    ] = 3,
    baseline: Annotated[
        bool, typer.Option(help="also measure throughput against an empty database")
    ] = True,
    burst_timeout: Annotated[
        float, typer.Option(help="give up on a burst after this many s")
    ] = 600.0,
    drain_timeout: Annotated[
        float, typer.Option(help="latency: wait this long after the last send for assignments")
    ] = 60.0,
    timeout: Annotated[float, typer.Option(help="per-request HTTP timeout, s")] = 10.0,
    out: Annotated[Path, typer.Option(help="results directory")] = RESULTS_DIR,
    wait_idle: Annotated[
        float,
        typer.Option(
            help="before starting, wait up to this many seconds for the machine to be quiet "
            "(other processes' CPU under 25 % of all cores)"
        ),
    ] = 300.0,
    wait_idle_run: Annotated[
        float,
        typer.Option(
            help="before each measurement, wait up to this many seconds for other work on the "
            f"machine to drop under {RUN_QUIET_OTHER_PCT:g} % of a core"
        ),
    ] = 90.0,
    render_only: Annotated[
        bool, typer.Option(help="only re-render router.md (and the tables) from router.json")
    ] = False,
    keep: Annotated[
        bool, typer.Option(help="keep the temp dir (logs, data) for inspection")
    ] = False,
) -> None:
    """Router throughput (1M existing leads vs empty) and end-to-end latency."""
    if render_only:
        result = json.loads((out / "router.json").read_text())
        result["summary"] = summarize(result, result["parameters"])
        (out / "router.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        (out / "router.md").write_text(markdown(result))
        print_tables(result)
        console.print(f"re-rendered {out / 'router.md'} from {out / 'router.json'}")
        return
    rate_list = _parse_rates(rates)
    checks = [
        (1000 <= seed_leads <= MAX_SEED, f"--seed-leads must be in [1000, {MAX_SEED:,}]"),
        (1 <= companies <= MAX_COMPANIES, f"--companies must be in [1, {MAX_COMPANIES:,}]"),
        (1 <= leads <= MAX_LEADS, f"--leads must be in [1, {MAX_LEADS:,}]"),
        (0 <= returning_pct <= 50, "--returning-pct must be in [0, 50]"),
        (0 < duration <= MAX_DURATION, f"--duration must be in (0, {MAX_DURATION:g}]"),
        (0 <= warmup <= MAX_WARMUP, f"--warmup must be in [0, {MAX_WARMUP:g}]"),
        (1 <= repeats <= MAX_REPEATS, f"--repeats must be in [1, {MAX_REPEATS}]"),
        (
            0 < burst_timeout <= MAX_BURST_TIMEOUT,
            f"--burst-timeout must be in (0, {MAX_BURST_TIMEOUT:g}]",
        ),
        (0 < drain_timeout <= MAX_DRAIN, f"--drain-timeout must be in (0, {MAX_DRAIN:g}]"),
        (0 < timeout <= 60, "--timeout must be in (0, 60]"),
        (0 <= wait_idle_run <= 600, "--wait-idle-run must be in [0, 600]"),
    ]
    for ok, message in checks:
        if not ok:
            raise typer.BadParameter(message)

    loop_factory, loop_name = _loop_factory()
    params: dict[str, Any] = {
        "command": " ".join(["python -m tests.bench.router", *sys.argv[1:]]),
        "seed_leads": seed_leads,
        "companies": companies,
        "leads": leads,
        "returning_pct": returning_pct,
        "rates": rate_list,
        "duration": duration,
        "warmup": warmup,
        "repeats": repeats,
        "baseline": baseline,
        "burst_timeout": burst_timeout,
        "drain_timeout": drain_timeout,
        "timeout": timeout,
        "wait_idle_run": wait_idle_run,
        "client_loop": loop_name,
        "routing_file": str(ROUTING_FILE.relative_to(REPO_ROOT)),
        "postgres_durable": True,
    }

    def on_sigterm(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    per_burst = burst_timeout + wait_idle_run + 60
    per_rate = warmup + duration + drain_timeout + wait_idle_run + 65
    worst = repeats * ((2 if baseline else 1) * per_burst + len(rate_list) * per_rate)
    console.log(
        f"bounded: at most ~{worst / 60:.0f} min of measurements (timeouts) plus seeding "
        f"{seed_leads:,} leads"
    )
    params["idle_before_start"] = wait_for_quiet(min(wait_idle, 1800.0))
    machine = machine_info()
    started = time.perf_counter()
    try:
        with bench_stack(keep) as (stack, tmp, procs):
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                raw = runner.run(run_all(stack, tmp, procs, params))
    except KeyboardInterrupt:
        console.print("[red]interrupted: stack torn down, no results written[/red]")
        raise typer.Exit(130) from None

    result = {
        "machine": machine,
        "parameters": params,
        "elapsed_s": round(time.perf_counter() - started, 1),
        **raw,
    }
    result["summary"] = summarize(result, params)
    out.mkdir(parents=True, exist_ok=True)
    (out / "router.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (out / "router.md").write_text(markdown(result))
    print_tables(result)
    console.print(
        f"results: {out / 'router.json'}, {out / 'router.md'} ({result['elapsed_s']:.0f} s)"
    )


if __name__ == "__main__":
    app()
