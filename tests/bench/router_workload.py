"""The router benchmark's data: the seeded database and the people who arrive.

Seed: ``--seed-leads`` leads with full profiles, email identities and (for a share) phone
identities, scored with the router's own scoring code, their owners chosen with the
benchmark's routing rules (``tests/bench/routing-bench.yaml``), bulk-loaded with
``INSERT ... SELECT FROM generate_series``; then ``router.rep.open_leads`` is set from the real
counts of assigned leads per rep.

Arrivals: new people (sales-ready, at seeded companies, never a fuzzy match for anyone) and
returning people drawn from the seed, each returning by one way the router matches: the same
email (plus-tagged where the provider folds tags), the same E.164 phone with the email absent
or different, or a one-letter typo of the name at the same company with a different or no
email. Every fuzzy arrival is checked with the router's own matcher before it is used.
"""

from __future__ import annotations

import json
import random
import string
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.progress import Progress
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.convert import profile_of
from services.router.domain.dedupe import MatchPolicy, Person, Verdict, decide_match
from services.router.domain.matching import company_key, company_keys
from services.router.domain.model import LeadProfile
from services.router.domain.scoring import ScoringRulesSource, score
from services.router.routing_config import RoutingConfig
from shared.domain.contact import PLUS_TAG_DOMAINS, canonical_email, normalize_phone
from shared.events.models import LeadData
from tests.router_env import sales_ready

SEED_CHUNK = 250_000

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
MAX_COMPANIES = 50_000  # the company-name word lists give 50 * 40 * 25 distinct names
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
PHONE_SHARE = 0.40  # seeded leads with a phone (and a phone identity)
SEED_PHONE_PREFIX = "+49151"  # + 8 digits of the lead's number: valid German mobile numbers
NEW_PHONE_PREFIX = "+49152"  # + 1 digit per People + 7 digits: never a seeded number
# Fuzzy returners come from companies with at most this many seeded leads, so the person is
# among the candidates whatever window and order the router reads them in (it reads 200).
FUZZY_MAX_COLLEAGUES = 150
RETURNING_KINDS = ("email", "phone", "fuzzy")
LIST_SOURCE = "bench-list"


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


# --------------------------------------------------------------------------- owners


def team_for(routing: RoutingConfig, country: str, size: str) -> str:
    """The team the routing rules pick for a (country, size); only those two conditions
    are allowed in the benchmark's file, so this cannot drift from the router's rules."""
    for rule in routing.rules:
        when = rule.when.model_dump(exclude_none=True)
        unsupported = set(when) - {"countries", "company_sizes"}
        if unsupported:
            raise ValueError(f"benchmark routing rule {rule.name} uses {sorted(unsupported)}")
        if "countries" in when and country not in when["countries"]:
            continue
        if "company_sizes" in when and size not in when["company_sizes"]:
            continue
        return rule.team
    raise ValueError(f"no routing rule for {country} {size}")


def owners(routing: RoutingConfig) -> tuple[dict[str, tuple[list[str], list[float]]], int]:
    """Per team: its active reps and cumulative weight cuts (a weighted pick from u in [0,1)),
    padded to the largest team; and that size."""
    teams: dict[str, list[tuple[str, int]]] = {}
    for rep in routing.reps:
        if rep.active:
            teams.setdefault(rep.team, []).append((rep.id, rep.weight))
    width = max(len(v) for v in teams.values())
    out = {}
    for team, reps in teams.items():
        total = sum(w for _, w in reps)
        cuts, acc = [], 0
        for _, w in reps:
            acc += w
            cuts.append(acc / total)
        cuts[-1] = 1.0
        ids = [r for r, _ in reps]
        out[team] = (ids + [ids[-1]] * (width - len(ids)), cuts + [1.0] * (width - len(cuts)))
    return out, width


# --------------------------------------------------------------------------- seed


def _archetype_key(ti: int, si: int, ii: int, ci: int, fm: int, ph: int) -> int:
    return (
        (((ti * len(SIZES) + si) * len(INDUSTRIES) + ii) * len(COUNTRIES) + ci) * 2 + fm
    ) * 2 + ph


def archetypes(rules_path: Path, routing: RoutingConfig) -> list[dict[str, Any]]:
    """Score every (title, size, industry, country, free-mail, phone) combination with the router's
    own scoring code, and give it the team its (country, size) routes to: seeded rows carry
    a consistent score, breakdown and owner."""
    rules = ScoringRulesSource(rules_path).rules
    reps_of, _ = owners(routing)
    now = datetime.now(UTC)
    rows = []
    for ti, (title, _) in enumerate(TITLES):
        for si, (size, _) in enumerate(SIZES):
            for ii, (industry, _) in enumerate(INDUSTRIES):
                for ci, (country, *_rest) in enumerate(COUNTRIES):
                    team = team_for(routing, country, size)
                    reps, cuts = reps_of[team]
                    for fm, ph in ((0, 0), (0, 1), (1, 0), (1, 1)):
                        domain = None if fm else "northwindredsystems.com"
                        profile = LeadProfile(
                            email=f"someone@{'gmail.com' if fm else domain}",
                            phone=f"{SEED_PHONE_PREFIX}00000001" if ph else None,
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
                                "k": _archetype_key(ti, si, ii, ci, fm, ph),
                                "score": result.total,
                                "temperature": result.temperature,
                                "stage": result.stage,
                                "breakdown": result.to_dict(),
                                "team": team,
                                "reps": reps,
                                "cuts": cuts,
                            }
                        )
    return rows


def seed_sql(lo: int, hi: int, companies: int, width: int) -> str:
    """One statement: leads lo..hi, their email identities and, for a share, phone ones."""
    title_pick, size_pick = _pick(TITLES), _pick(SIZES)
    ind_pick, country_pick = _pick(INDUSTRIES), _pick(COUNTRIES)
    n_s, n_i, n_c = len(SIZES), len(INDUSTRIES), len(COUNTRIES)
    co_a, co_b, co_c = _sql_array(CO_A), _sql_array(CO_B), _sql_array(CO_C)
    owner = "a.reps[1]"
    if width > 1:
        owner = (
            "CASE "
            + " ".join(f"WHEN r_rep < a.cuts[{j}] THEN a.reps[{j}]" for j in range(1, width))
            + f" ELSE a.reps[{width}] END"
        )
    return f"""
WITH s AS (
  SELECT g AS i,
         floor({companies} * power(random(), {COMPANY_SKEW}))::int AS c,
         ({_sql_int_array(title_pick)})[1 + floor(random() * {len(title_pick)})::int] AS ti,
         ({_sql_int_array(country_pick)})[1 + floor(random() * {len(country_pick)})::int] AS ci,
         random() < {FREEMAIL_SHARE} AS fm,
         random() < {LIST_NAME_SHARE} AS is_name,
         random() < {PHONE_SHARE} AS has_phone,
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
  SELECT co.*, a.score, a.temperature, a.stage, a.breakdown, a.team,
         CASE WHEN fm THEN lower(first || last) || i || '@' || {_sql_array(FREEMAIL)}[1 + fmd]
              ELSE lower(first) || '.' || lower(last) || i || '@' || cdomain END AS email,
         CASE WHEN has_phone THEN {_sql_str(SEED_PHONE_PREFIX)} || lpad(i::text, 8, '0')
              END AS phone,
         CASE WHEN is_name OR a.stage = 'none' THEN 'nurture'
              WHEN r_status < {CONVERTED_SHARE} THEN 'converted'
              ELSE 'assigned' END AS status,
         {owner} AS rep
  FROM co
  JOIN bench_archetype a
    ON a.k = ((((ti * {n_s} + si) * {n_i} + ii) * {n_c} + ci) * 2 + fm::int) * 2 + has_phone::int
), ins AS (
  INSERT INTO router.lead (
    id, status, is_name, profile, first_name, last_name, company_key, company_name_key,
    source_id, channel,
    received_at, score, temperature, stage, score_breakdown, owner_rep_id, team_id, queue,
    first_touch_at, last_activity_at, created_at, updated_at, lifecycle_stage,
    stage_entered_at, last_owner_rep_id, owned_since, last_worked_at)
  SELECT gen_random_uuid(), status, is_name,
         jsonb_build_object(
           'email', email,
           'phone', phone,
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
         CASE WHEN fm THEN 'name:' || replace(replace(replace(replace(lower(cname), ' ', ''), 'ae', 'a'), 'oe', 'o'), 'ue', 'u') ELSE cdomain END,
         CASE WHEN fm THEN NULL ELSE 'name:' || replace(replace(replace(replace(lower(cname), ' ', ''), 'ae', 'a'), 'oe', 'o'), 'ue', 'u') END,
         CASE WHEN is_name THEN 'purchased-lists' WHEN r_misc < 0.08 THEN 'trade-show'
              ELSE 'website' END,
         CASE WHEN is_name THEN 'purchased_list' WHEN r_misc < 0.08 THEN 'trade_show'
              ELSE 'web' END,
         recv, score, temperature, stage, breakdown,
         CASE WHEN status IN ('assigned', 'converted') THEN rep END,
         CASE WHEN status IN ('assigned', 'converted') THEN team END,
         NULL,
         CASE WHEN status = 'converted' OR (status = 'assigned' AND r_touch < 0.8)
              THEN recv + r_touch * interval '3 days' END,
         CASE WHEN status = 'converted' OR (status = 'assigned' AND r_touch < 0.8)
              THEN recv + r_touch * interval '20 days' END,
         recv,
         least(now(), recv + r_misc * interval '60 days'),
         CASE WHEN is_name THEN 'name' WHEN status = 'converted' THEN 'customer'
              WHEN stage = 'sql' THEN 'sql' WHEN stage = 'mql' THEN 'mql' ELSE 'lead' END,
         recv,
         CASE WHEN status IN ('assigned', 'converted') THEN rep END,
         -- owned and worked from now: nothing is due for recycling while the benchmark runs
         CASE WHEN status = 'assigned' THEN now() END,
         CASE WHEN status = 'assigned' THEN now() END
  FROM p
  RETURNING id, profile ->> 'email' AS email, profile ->> 'phone' AS phone
)
INSERT INTO router.lead_identity (kind, value, lead_id)
SELECT 'email', email, id FROM ins
UNION ALL
SELECT 'phone', phone, id FROM ins WHERE phone IS NOT NULL
"""


async def scalar(engine: AsyncEngine, query: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(query), params)).scalar()


async def rows(engine: AsyncEngine, query: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(query), params)).all())


async def seed(
    engine: AsyncEngine,
    n: int,
    companies: int,
    progress: Progress,
    rules_path: Path,
    routing: RoutingConfig,
) -> dict[str, Any]:
    """Bulk-load n leads + identities, then VACUUM ANALYZE and CHECKPOINT."""
    timings: dict[str, float] = {}
    task = progress.add_task(f"seeding {n:,} leads", total=n)
    started = time.perf_counter()
    arche = archetypes(rules_path, routing)
    _, width = owners(routing)
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS public.bench_archetype"))
        await conn.execute(
            text(
                "CREATE TABLE public.bench_archetype (k int PRIMARY KEY, score int, "
                "temperature text, stage text, breakdown jsonb, team text, reps text[], "
                "cuts float8[])"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO public.bench_archetype SELECT * FROM jsonb_to_recordset("
                "CAST(:rows AS jsonb)) AS r(k int, score int, temperature text, stage text, "
                "breakdown jsonb, team text, reps text[], cuts float8[])"
            ),
            {"rows": json.dumps(arche)},
        )
    t_insert = time.perf_counter()
    async with engine.connect() as conn:
        await conn.execute(text("SELECT setseed(0.4242)"))
        await conn.commit()
        for lo in range(1, n + 1, SEED_CHUNK):
            hi = min(n, lo + SEED_CHUNK - 1)
            await conn.execute(text(seed_sql(lo, hi, companies, width)))
            await conn.commit()
            progress.update(task, completed=hi)
    async with engine.begin() as conn:  # each lead's stage history: the stage it is in
        await conn.execute(
            text(
                "INSERT INTO router.lead_stage (id, lead_id, stage, previous_stage, entered_at,"
                " cause) SELECT gen_random_uuid(), id, lifecycle_stage, NULL, stage_entered_at,"
                " 'seeded' FROM router.lead"
            )
        )
    timings["insert_s"] = time.perf_counter() - t_insert
    progress.update(task, description="VACUUM ANALYZE")
    t_vac = time.perf_counter()
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(text("DROP TABLE public.bench_archetype"))
        await auto.execute(text("VACUUM (ANALYZE) router.lead"))
        await auto.execute(text("VACUUM (ANALYZE) router.lead_identity"))
        await auto.execute(text("VACUUM (ANALYZE) router.lead_stage"))
        timings["vacuum_analyze_s"] = time.perf_counter() - t_vac
        t_cp = time.perf_counter()
        await auto.execute(text("CHECKPOINT"))
        timings["checkpoint_s"] = time.perf_counter() - t_cp
    timings["total_s"] = time.perf_counter() - started
    progress.update(task, visible=False)
    stats = await seed_stats(engine)
    stats.update({k: round(v, 1) for k, v in timings.items()})
    stats["rows_per_s"] = round(n / timings["insert_s"]) if timings["insert_s"] else None
    stats["statements"] = -(-n // SEED_CHUNK)
    return stats


async def seed_stats(engine: AsyncEngine) -> dict[str, Any]:
    by_status = await rows(
        engine, "SELECT status, count(*) FROM router.lead GROUP BY 1 ORDER BY 2 DESC"
    )
    by_kind = await rows(
        engine, "SELECT kind, count(*) FROM router.lead_identity GROUP BY 1 ORDER BY 1"
    )
    per_company = (
        await rows(
            engine,
            "SELECT count(*) AS companies, percentile_disc(0.5) WITHIN GROUP (ORDER BY n), "
            "percentile_disc(0.99) WITHIN GROUP (ORDER BY n), max(n), "
            "count(*) FILTER (WHERE n <= :small) FROM "
            "(SELECT company_key, count(*) AS n FROM router.lead GROUP BY 1) t",
            small=FUZZY_MAX_COLLEAGUES,
        )
    )[0]
    sizes = (
        await rows(
            engine,
            "SELECT pg_total_relation_size('router.lead'), "
            "pg_total_relation_size('router.lead_identity'), pg_database_size(current_database())",
        )
    )[0]
    return {
        "leads": await scalar(engine, "SELECT count(*) FROM router.lead"),
        "identities": sum(n for _, n in by_kind),
        "identities_by_kind": {k: n for k, n in by_kind},
        "status": {s: n for s, n in by_status},
        "company_keys": per_company[0],
        "leads_per_company_key": {
            "p50": per_company[1],
            "p99": per_company[2],
            "max": per_company[3],
        },
        "company_keys_small": per_company[4],
        "lead_table_mb": round(sizes[0] / 2**20),
        "identity_table_mb": round(sizes[1] / 2**20),
        "database_mb": round(sizes[2] / 2**20),
    }


async def check_seed(engine: AsyncEngine, rules_path: Path, sample: int = 300) -> dict[str, Any]:
    """Seeded rows must look like the router's own: same company key, canonical email, E.164
    phone, valid LeadData, same score. A mismatch in keys is a bug in the seed SQL: fail."""
    rules = ScoringRulesSource(rules_path).rules
    total = await scalar(engine, "SELECT count(*) FROM router.lead")
    pct = min(100.0, 100.0 * 2 * sample / max(1, total))
    found = await rows(
        engine,
        "SELECT l.profile, l.company_key, l.company_name_key, l.score, l.channel, l.source_id, "
        "l.is_name, "
        "array_agg(i.kind || ':' || i.value ORDER BY i.kind) "
        f"FROM router.lead l TABLESAMPLE BERNOULLI ({pct:.4f}) "
        "JOIN router.lead_identity i ON i.lead_id = l.id GROUP BY l.id LIMIT :n",
        n=sample,
    )
    now = datetime.now(UTC)
    score_mismatch = 0
    for profile, key, name_key, stored_score, channel, source_id, is_name, identities in found:
        LeadData.model_validate({k: v for k, v in profile.items() if v is not None})
        expected_keys = company_keys(
            profile_of(profile, source_id=None, channel=None, purchased_list=False)
        )
        if expected_keys != (key, name_key):
            raise RuntimeError(
                f"seeded company keys {(key, name_key)!r} != router's {expected_keys!r}"
            )
        expected = [f"email:{canonical_email(profile['email'])}"]
        if profile.get("phone"):
            expected.append(f"phone:{normalize_phone(profile['phone'])}")
        if sorted(expected) != list(identities):
            raise RuntimeError(f"seeded identities {identities} are not the router's {expected}")
        lp = profile_of(profile, source_id=source_id, channel=channel, purchased_list=is_name)
        if score(lp, [], rules, now).total != stored_score:
            score_mismatch += 1
    return {"sampled": len(found), "score_mismatches": score_mismatch}


async def set_open_leads(engine: AsyncEngine) -> list[dict[str, Any]]:
    """``router.rep.open_leads`` = the rep's assigned leads, counted; every owner must be a
    rep the router knows (it seeded them from the routing file)."""
    async with engine.begin() as conn:
        unknown = (
            await conn.execute(
                text(
                    "SELECT DISTINCT owner_rep_id FROM router.lead WHERE owner_rep_id IS NOT NULL "
                    "AND owner_rep_id NOT IN (SELECT id FROM router.rep)"
                )
            )
        ).all()
        if unknown:
            raise RuntimeError(f"seeded owners unknown to the router: {unknown}")
        await conn.execute(
            text(
                "UPDATE router.rep r SET open_leads = (SELECT count(*) FROM router.lead l "
                "WHERE l.owner_rep_id = r.id AND l.status = 'assigned')"
            )
        )
    found = await rows(
        engine, "SELECT id, team_id, open_leads, capacity FROM router.rep ORDER BY team_id, id"
    )
    return [{"rep": r, "team": t, "open_leads": n, "capacity": c} for r, t, n, c in found]


# --------------------------------------------------------------------------- arrivals


@dataclass(frozen=True)
class SeedRow:
    lead_id: str
    status: str
    owner: str | None
    company_key: str | None
    profile: dict[str, Any]


@dataclass(frozen=True)
class Arrival:
    """One person arriving: the event's fields, how they are known (``new`` or the way they
    return), and for a returning person the seeded lead they are."""

    fields: dict[str, Any]
    kind: str
    seed: SeedRow | None = None


def _surname(rng: random.Random) -> str:
    """Random letters: never a fuzzy match for a seeded name or another new person."""
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(9)).capitalize()


def _typo(name: str, rng: random.Random) -> str:
    """One letter (never the first) replaced by another."""
    spots = [i for i, ch in enumerate(name) if i > 0 and ch.isalpha()]
    i = rng.choice(spots)
    letter = rng.choice([c for c in string.ascii_lowercase if c != name[i].lower()])
    return name[:i] + letter + name[i + 1 :]


def sales_ready_combos(rules_path: Path) -> list[tuple[str, str]]:
    """(country, size) pairs where a new web lead's profile reaches MQL, repeated by the
    country's weight: new people are qualified enough to be given to sales."""
    rules = ScoringRulesSource(rules_path).rules
    now = datetime.now(UTC)
    combos = []
    for country, *_rest, weight in COUNTRIES:
        for size, _ in SIZES:
            fields = sales_ready(
                "a.b@northwindredsystems.com",
                company="Northwind Red Systems",
                company_domain="northwindredsystems.com",
                country=country,
                company_size=size,
            )
            lp = profile_of(fields, source_id="website", channel="web", purchased_list=False)
            if score(lp, [], rules, now).stage != "none":
                combos += [(country, size)] * weight
    if not combos:
        raise RuntimeError("no sales-ready profile with the shipped scoring rules")
    return combos


@dataclass
class People:
    """New people at seeded companies and returning people from the seed. ``block`` (0-9)
    keeps the invented phone numbers and addresses of two People apart."""

    companies: int
    pools: dict[str, list[SeedRow]]
    combos: list[tuple[str, str]]
    block: int
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    policy: MatchPolicy = field(default_factory=MatchPolicy)
    serial: int = 0
    unused_typos: int = 0
    _order: list[int] = field(default_factory=list)

    def _company(self) -> int:
        """Distinct seeded companies in a shuffled order, round after round."""
        if not self._order:
            self._order = list(range(self.companies))
            self.rng.shuffle(self._order)
        return self._order.pop()

    def _next(self) -> int:
        self.serial += 1
        return self.serial

    def new_phone(self) -> str:
        return f"{NEW_PHONE_PREFIX}{self.block}{self._next():07d}"

    def new(self) -> Arrival:
        c = self._company()
        domain = company_domain(c)
        first, last = self.rng.choice(FIRST), _surname(self.rng)
        country, size = self.rng.choice(self.combos)
        fields = sales_ready(
            f"{first.lower()}.{last.lower()}.n{self._next()}b{self.block}@{domain}",
            first_name=first,
            last_name=last,
            company=company_name(c),
            company_domain=domain,
            website=f"https://www.{domain}",
            country=country,
            company_size=size,
            utm={"source": "google", "medium": "cpc", "campaign": "bench"},
            form_id="demo-request",
        )
        return Arrival(fields, "new")

    def returning(self, kind: str) -> Arrival | None:
        pool = self.pools.get(kind) or []
        while pool:
            row = pool.pop()
            fields = {k: v for k, v in row.profile.items() if v is not None and k != "custom"}
            fields["message"] = "Back again: can we talk this week?"
            fields["utm"] = {"source": "newsletter", "medium": "email", "campaign": "bench"}
            if kind == "email":
                local, _, domain = fields["email"].partition("@")
                if domain in PLUS_TAG_DOMAINS:  # folded back by canonical_email
                    fields["email"] = f"{local}+bench@{domain}"
                fields.pop("phone", None)
                return Arrival(fields, kind, row)
            first, last = fields["first_name"], fields["last_name"]
            if kind == "phone":
                if self.rng.random() < 0.5:
                    fields.pop("email")
                else:
                    free = self.rng.choice(FREEMAIL)
                    fields["email"] = f"{first}.{last}.p{self._next()}b{self.block}@{free}".lower()
                return Arrival(fields, kind, row)
            if (found := self._fuzzy(fields, row)) is not None:
                return Arrival(found, kind, row)
            self.unused_typos += 1
        return None

    def _fuzzy(self, fields: dict[str, Any], row: SeedRow) -> dict[str, Any] | None:
        """A one-letter typo of the name the router's matcher joins to the seeded lead
        (same company key), with a different or no email and never the seeded phone."""
        candidate = Person(
            first_name=row.profile.get("first_name"),
            last_name=row.profile.get("last_name"),
            company=row.profile.get("company"),
            company_domain=row.profile.get("company_domain"),
        )
        for attempt in range(12):
            first, last = fields["first_name"], fields["last_name"]
            if attempt % 3 == 0:
                first = _typo(first, self.rng)
            else:
                last = _typo(last, self.rng)
            changed = dict(fields, first_name=first, last_name=last)
            changed.pop("phone", None)
            if self.rng.random() < 0.5:
                domain = fields["email"].partition("@")[2]
                changed["email"] = f"{first}.{last}.f{self._next()}b{self.block}@{domain}".lower()
            else:
                changed.pop("email")
                changed["phone"] = self.new_phone()
            lp = profile_of(changed, source_id="website", channel="web", purchased_list=False)
            if company_key(lp) == row.company_key and _merges(changed, candidate, self.policy):
                return changed
        return None

    def batch(self, n: int, returning_pct: float) -> list[Arrival]:
        """n people; every (100/returning_pct)-th one returning (by email, phone and fuzzy
        name in turn) while the pools last, the others new."""
        out: list[Arrival] = []
        every = 100 / returning_pct if returning_pct > 0 else 0.0
        turn = 0
        for i in range(n):
            person = None
            if every and int((i + 1) / every) > int(i / every):
                for k in range(len(RETURNING_KINDS)):
                    person = self.returning(RETURNING_KINDS[(turn + k) % len(RETURNING_KINDS)])
                    if person is not None:
                        break
                turn += 1
            out.append(person or self.new())
        return out


def list_names(n: int, companies: int, rng: random.Random, tag: str) -> Iterator[dict[str, Any]]:
    """Purchased-list names: people at seeded companies (the router looks up their
    colleagues), with a title and no form; nurture only, whatever their score."""
    titles = _pick(TITLES)
    countries = _pick(COUNTRIES)
    for i in range(n):
        c = rng.randrange(companies)
        domain = company_domain(c)
        first, last = rng.choice(FIRST), _surname(rng)
        country = COUNTRIES[rng.choice(countries)]
        yield {
            "email": f"{first.lower()}.{last.lower()}.l{i}{tag}@{domain}",
            "first_name": first,
            "last_name": last,
            "company": company_name(c),
            "company_domain": domain,
            "job_title": TITLES[rng.choice(titles)][0],
            "country": country[0],
            "city": country[1],
        }


async def returning_pools(
    engine: AsyncEngine, wanted: dict[str, int], status_counts: dict[str, int]
) -> dict[str, list[SeedRow]]:
    """Random seeded people for each way of returning, half of them assigned leads (they
    must go back to their owner) and half nurture ones (re-scored, still nurture). Converted
    leads are left out: the router emits no decision for them. Each lead is used once."""
    need = {kind: {"assigned": n - n // 2, "nurture": n // 2} for kind, n in wanted.items()}
    big = {
        r[0]
        for r in await rows(
            engine,
            "SELECT company_key FROM router.lead GROUP BY 1 HAVING count(*) > :n",
            n=FUZZY_MAX_COLLEAGUES,
        )
    }
    pools: dict[str, list[SeedRow]] = {kind: [] for kind in wanted}
    for status in ("assigned", "nurture"):
        total = sum(need[k][status] for k in need)
        have = status_counts.get(status, 0)
        if not total or not have:
            continue
        # phones are on 40 % of the leads: sample enough for that pool to fill
        pct = min(100.0, 100.0 * 4 * total / have)
        found = await rows(
            engine,
            "SELECT id::text, status, owner_rep_id, company_key, profile FROM router.lead "
            f"TABLESAMPLE BERNOULLI ({pct:.4f}) REPEATABLE (7) WHERE status = :status",
            status=status,
        )
        sample = [SeedRow(*r) for r in found]
        random.Random(11).shuffle(sample)  # the sample is in physical order: shuffle
        for row in sample:
            eligible = {
                "phone": bool(row.profile.get("phone")),
                "fuzzy": row.company_key is not None and row.company_key not in big,
                "email": True,
            }
            for kind in ("phone", "fuzzy", "email"):  # scarcest first
                if kind in need and eligible[kind] and need[kind][status] > 0:
                    pools[kind].append(row)
                    need[kind][status] -= 1
                    break
    for pool in pools.values():
        random.Random(13).shuffle(pool)
    return pools


def ingest_payload(fields: dict[str, Any]) -> dict[str, Any]:
    """The LeadIn body a website would post for these fields (ingest derives the rest)."""
    keys = (
        "email phone first_name last_name company website job_title company_size industry "
        "country city timezone marketing_consent message campaign form_id"
    ).split()
    body = {k: fields[k] for k in keys if fields.get(k) is not None}
    utm = fields.get("utm") or {}
    for k in ("source", "medium", "campaign"):
        if utm.get(k):
            body[f"utm_{k}"] = utm[k]
    return body


def _merges(fields: dict[str, Any], candidate: Person, policy: MatchPolicy) -> bool:
    """Whether the router's match policy merges these fields into the candidate on name and
    company alone (no contact key in common)."""
    me = Person(
        fields.get("first_name"),
        fields.get("last_name"),
        fields.get("company"),
        fields.get("company_domain"),
    )
    found = decide_match(me, [(uuid.UUID(int=1), candidate, frozenset())], policy)
    return found.verdict == Verdict.merge
