"""Router benchmark: throughput with 1,000,000 existing leads against an empty database, the
router's CPU against a null aiokafka loop, end-to-end latency at constant rates, and the fast
lane: web-lead latency while a purchased-list import drains on the bulk lane.

``python -m tests.bench.router [--seed-leads 1000000] [--leads 20000] [--returning-pct 25]
[--repeats 3] [--rates 10,20,30] [--trickle-rate 5] [--trickle-duration 60] [--bulk 100000]``
(``make bench ROUTER_BENCH_ARGS="..."``). Router settings (batch sizes and the like) pass
through from the environment (every ``LEADFLOW_ROUTER_*`` variable) or ``--router-env
NAME=VALUE``; both are recorded with the results.

What it does:

1. Starts its own isolated stack in a temp dir on free loopback ports (embedded PostgreSQL
   with fsync on, a KRaft Kafka broker, migrations, topics) and tears it down at the end,
   also on error, Ctrl-C or SIGTERM. Each database (seeded, empty) has its own topic prefix,
   consumer group and router process, with the benchmark's routing file
   (``tests/bench/routing-bench.yaml``). Each router is started once before anything is
   seeded and stopped again: it seeds its teams, reps and rules itself.
2. Seeds ``--seed-leads`` leads (``tests/bench/router_workload.py``: profiles, email and phone
   identities, scores and owners from the router's own code and rules) and sets
   ``router.rep.open_leads`` from the seeded assigned leads' real counts.
3. Throughput: bursts of ``--leads`` ``leads.received.v1`` events published straight to the
   topic (acks=all), ``--returning-pct`` of them returning seeded people (by email, by phone
   with the email absent or different, by a one-letter name typo at the same company), the
   rest new sales-ready people. Done = a decision event (``leads.assigned.v1``) was read for
   every submission of the burst: Kafka in to decision out. The first burst of a database is
   published before its router starts and timed from its readiness; later bursts are timed
   from the start of publishing. The same bursts run against the empty database (the
   baseline), alternating. CPU per lead of the router, PostgreSQL and Kafka from /proc; the
   outcomes and how each arrival was matched are read back to check the workload.
4. Null loop: after each seeded burst, ``tests/bench/null_loop.py`` (its own process) reads the
   same events from the same broker, decodes them and produces one event per message in
   batches (acks=all): the floor the router's CPU per lead is compared with.
5. Latency by rate: ingest + the seeded database's router; signed leads posted at constant
   offered rates, open loop; latency from the scheduled send to the decision event read.
6. Fast lane: the same, at ``--trickle-rate`` for ``--trickle-duration`` s, once idle and once
   right after ``--bulk`` purchased-list events were published to ``leads.bulk.v1``; latency
   from the 202 to the decision event read, and how far the bulk lane had drained when the
   trickle ended (decisions read, and the committed offsets of the router's group and of
   ``<group>-bulk``).
7. Writes ``tests/bench/results/<name>.json`` and ``<name>.md`` (``--name``, default
   ``router``); prints the tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.routing_config import load_routing_config
from services.router.settings import CONFIG_DIR
from shared import db
from shared.events.registry import LEAD_ASSIGNED, LEAD_RECEIVED
from shared.kafka.producer import EventProducer
from shared.kafka.topics import LEADS_BULK, all_topics, ensure_topics
from shared.settings import DEV_WEBHOOK_SECRET
from shared.stack.common import REPO_ROOT, free_port
from shared.stack.stack import SERVICES, ServiceProcess, Stack
from tests.bench.common import (
    CpuMeter,
    assert_loopback,
    bench_stack,
    code_version,
    console,
    fmt,
    loop_factory,
    machine_info,
    percentile,
    postgres_settings,
    postmaster_pid,
    wait_for_quiet,
    wait_for_quiet_run,
)
from tests.bench.router_kafka import (
    DecisionReader,
    build_received,
    consumed,
    end_offsets,
    group_offsets,
    null_loop,
    publish_bytes,
    publish_received,
)
from tests.bench.router_report import markdown, print_tables, summarize
from tests.bench.router_workload import (
    LIST_SOURCE,
    MAX_COMPANIES,
    RETURNING_KINDS,
    Arrival,
    People,
    check_seed,
    ingest_payload,
    list_names,
    returning_pools,
    rows,
    sales_ready_combos,
    scalar,
    seed,
    set_open_leads,
)
from tests.bench.run import ConnectionPool
from tests.router_env import ROUTER, RouterEnv, make_router_env
from tests.signing import signed_request

RESULTS_DIR = REPO_ROOT / "tests" / "bench" / "results"
INGEST = next(s for s in SERVICES if s.name == "ingest")
ROUTING_FILE = Path(__file__).parent / "routing-bench.yaml"
SCORING_FILE = CONFIG_DIR / "scoring.yaml"  # the rules the router runs with
LEADS_PATH = "/v1/leads"
CODE_PATHS = ("services/router", "services/ingest", "shared")  # the code the services run
NULL_TOPIC = "bench.null.v1"
OWN_ROUTER_ENV = ("LEADFLOW_ROUTER_ROUTING_FILE", "LEADFLOW_ROUTER_CONSUMER_GROUP")

# Hard bounds: the benchmark must stay finite whatever ROUTER_BENCH_ARGS says.
MAX_SEED = 5_000_000
MAX_LEADS = 200_000
MAX_BULK = 1_000_000
MAX_RATE = 200.0
MAX_DURATION = 600.0
MAX_WARMUP = 30.0
MAX_REPEATS = 5
MAX_BURST_TIMEOUT = 7200.0
MAX_DRAIN = 600.0
# --burst-timeout 0 (the default) gives a burst 120 s plus 1/20 s per lead: a router at 20
# leads/s or more finishes (today's router does about 50); one slower times out, and says so.
AUTO_TIMEOUT_BASE_S = 120.0
AUTO_TIMEOUT_FLOOR_RATE = 20.0
RUN_QUIET_OTHER_PCT = 30.0  # % of one core used by other work: quiet enough to measure
SATURATION_ACHIEVED = 0.9  # assigned/s under this share of offered: the router did not keep up
SATURATION_BACKLOG_S = 2.0  # more than this many seconds of offered leads pending at the end

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


# --------------------------------------------------------------------------- environment


@dataclass
class Side:
    """One database + topic prefix + its router process + a reader of its decisions."""

    name: str
    env: RouterEnv
    engine: AsyncEngine
    log: Path
    procs: list[ServiceProcess]
    extra_env: dict[str, str]
    router: ServiceProcess | None = None
    people: People | None = None
    reader: DecisionReader | None = None
    broken: str | None = None  # why its later measurements were skipped
    ready_at: float = 0.0

    @property
    def group(self) -> str:
        return f"{self.env.prefix}router"

    async def unrouted(self, submission_ids: list[str]) -> set[str]:
        """Which of these submissions the router recorded without routing them: their lead is
        closed to routing (an opportunity or a customer), so no decision will come."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT s.submission_id::text FROM router.lead_submission s "
                    "JOIN router.lead l ON l.id = s.lead_id "
                    "WHERE s.submission_id = ANY(CAST(:ids AS uuid[])) "
                    "AND l.status IN ('opportunity', 'converted')"
                ),
                {"ids": submission_ids},
            )
            return {row[0] for row in rows}

    @property
    def pid(self) -> int | None:
        return self.router.proc.pid if self.router and self.router.proc else None

    def router_env(self, **extra: str) -> dict[str, str]:
        return self.env.env(**self.extra_env, **extra)

    async def start_router(self) -> None:
        self.router = ServiceProcess(ROUTER, self.router_env(), port=free_port(), log=self.log)
        self.procs.append(self.router)  # torn down with the stack whatever happens
        await asyncio.to_thread(self.router.start)
        await asyncio.to_thread(self.router.wait_ready, 60)
        self.ready_at = time.perf_counter()
        assert_loopback(self.router.url)

    def alive(self) -> None:
        if self.router is not None and (
            self.router.proc is None or self.router.proc.poll() is not None
        ):
            raise RuntimeError(f"router ({self.name}) exited; see {self.log}")

    async def outbox(self) -> int:
        return int(await scalar(self.engine, "SELECT count(*) FROM router.outbox"))

    async def stop(self) -> None:
        if self.router is not None:
            await asyncio.to_thread(self.router.stop)
        self.router = None


def imported_from(env: dict[str, str]) -> dict[str, str]:
    """Where a service process started like ServiceProcess (cwd = this checkout, ``-m``/``-c``
    put it first on sys.path) imports the router, ingest and shared code from; the benchmark
    refuses to measure code from anywhere else."""
    probe = (
        "import json, services.router.app, services.ingest.app, shared.kafka.consumer;"
        "print(json.dumps({m: __import__('sys').modules[m].__file__ for m in "
        "('services.router.app', 'services.ingest.app', 'shared.kafka.consumer')}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"cannot import the services: {out.stderr[-2000:]}")
    paths: dict[str, str] = json.loads(out.stdout)
    for module, path in paths.items():
        if not Path(path).resolve().is_relative_to(REPO_ROOT):
            raise RuntimeError(f"{module} would be imported from {path}, not from {REPO_ROOT}")
    return paths


def meter(stack: Stack, procs: dict[str, int | None]) -> CpuMeter:
    return CpuMeter({**procs, "kafka": stack.kafka.pid()}, postmaster_pid(stack))


async def settle(
    stack: Stack, sides: list[Side], extra: dict[str, int | None], limit: float
) -> dict[str, Any]:
    """The next measurement starts from rest: outboxes relayed, then (bounded by ``limit``)
    until other work on the machine uses under RUN_QUIET_OTHER_PCT % of a core over 2 s."""
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        counts = [await s.outbox() for s in sides if s.router is not None]
        if not any(counts):
            break
        await asyncio.sleep(0.5)
    ours = {f"router_{s.name}": s.pid for s in sides if s.router is not None} | extra
    ours["kafka"] = stack.kafka.pid()
    return await wait_for_quiet_run(ours, postmaster_pid(stack), limit, RUN_QUIET_OTHER_PCT)


# --------------------------------------------------------------------------- throughput


async def workload_check(side: Side, arrivals: list[Arrival], subs: list[str]) -> dict[str, Any]:
    """What the router made of the burst: outcomes (from the decision events), how each
    arrival was matched (``router.lead_submission.matched_by``), whether returning people
    joined the seeded lead they are, and whether returning assigned leads stayed sticky."""
    assert side.reader is not None
    decisions = side.reader.decisions
    outcomes = Counter(
        f"{decisions[s][0]}/{decisions[s][1]}" for s in subs if s in decisions
    )  # outcome/kind
    check: dict[str, Any] = {
        "arrivals": dict(Counter(a.kind for a in arrivals)),
        "outcomes": dict(sorted(outcomes.items())),
    }
    try:
        found = await rows(
            side.engine,
            "SELECT submission_id::text, lead_id::text, matched_by FROM router.lead_submission "
            "WHERE submission_id = ANY(CAST(:ids AS uuid[]))",
            ids=subs,
        )
    except Exception as exc:  # a changed schema must not lose the throughput figures
        check["matched_by_error"] = repr(exc)
        return check
    by_sub = {s: (lead, how) for s, lead, how in found}
    check["matched_by"] = dict(sorted(Counter(how for _, how in by_sub.values()).items()))
    joined: Counter[str] = Counter()
    sticky = assigned_back = 0
    for arrival, sub in zip(arrivals, subs, strict=True):
        if arrival.seed is None:
            continue
        if by_sub.get(sub, ("", ""))[0] == arrival.seed.lead_id:
            joined[arrival.kind] += 1
        if arrival.seed.status == "assigned":
            assigned_back += 1
            d = decisions.get(sub)
            if d is not None and d[1] == "sticky" and d[2] == arrival.seed.owner:
                sticky += 1
    check["returning_joined_their_lead"] = {k: joined[k] for k in RETURNING_KINDS}
    check["returning_assigned"] = assigned_back
    check["returning_assigned_sticky_to_owner"] = sticky
    return check


async def burst(
    side: Side,
    stack: Stack,
    producer: EventProducer,
    params: dict[str, Any],
    rep: int,
    progress: Progress,
    task: Any,
    others: list[Side],
) -> tuple[dict[str, Any], tuple[dict[int, int], dict[int, int]]]:
    assert side.people is not None and side.reader is not None
    n = params["leads"]
    arrivals = side.people.batch(n, params["returning_pct"])
    topic = side.env.topic(LEAD_RECEIVED.topic)
    label = f"rep {rep + 1}/{params['repeats']} {side.name:5} burst of {n:,}"
    progress.reset(task, total=n, completed=0, description=label)
    start_offsets = await end_offsets(stack.bootstrap, topic)
    first = side.router is None
    subs: list[str] = []
    publish_s = 0.0
    if first:  # published first, timed from the router's readiness
        _, subs, publish_s = await publish_received(producer, topic, (a.fields for a in arrivals))
        await side.start_router()
        mode = "from router readiness (events published before start)"
    else:
        mode = "from the start of publishing (router already up)"
    idle = {f"idle_router_{s.name}": s.pid for s in others if s.router is not None}
    cpu = meter(stack, {"router": side.pid, **idle})
    with cpu:
        t0 = side.ready_at if first else time.perf_counter()
        if not first:
            _, subs, publish_s = await publish_received(
                producer, topic, (a.fields for a in arrivals)
            )
        deadline = t0 + params["burst_timeout"]
        decided = await side.reader.wait_for(
            subs,
            deadline,
            on_progress=lambda k: progress.update(task, completed=k),
            alive=side.alive,
            settled=side.unrouted,
        )
        wall = time.perf_counter() - t0
    end = await end_offsets(stack.bootstrap, topic)
    timed_out = decided < n
    unrouted = [s for s in subs if s in side.reader.unrouted]
    reads = sorted(
        side.reader.seen[s] for s in subs if s in side.reader.seen and s not in side.reader.unrouted
    )
    steady = (len(reads) - 1) / (reads[-1] - reads[0]) if len(reads) > 1 else None
    run: dict[str, Any] = {
        "database": side.name,
        "repeat": rep + 1,
        "leads": n,
        "timing": mode,
        "decided": decided,
        # recorded without a decision: a new person matched a lead sales had closed
        "unrouted": len(unrouted),
        "timed_out": timed_out,
        "wall_s": round(wall, 2),
        "leads_per_s": round(decided / wall, 1),
        "steady_leads_per_s": round(steady, 1) if steady else None,
        "first_decision_after_s": round(reads[0] - t0, 2) if reads else None,
        "publish_s": round(publish_s, 2),
        "cpu": cpu.result,
    }
    if timed_out:
        # the router keeps working on the rest: wait (unmeasured) so the next measurement
        # starts from rest, and note how long the whole burst took
        progress.update(task, description=f"{label}: timed out, waiting for the rest")
        more = await side.reader.wait_for(
            subs,
            time.perf_counter() + params["burst_timeout"],
            alive=side.alive,
            settled=side.unrouted,
        )
        run["finished_after_s"] = round(time.perf_counter() - t0, 1) if more >= n else None
        if more < n:
            side.broken = (
                f"burst {rep + 1} not decided within twice --burst-timeout "
                f"({more:,} of {n:,}); its later measurements skipped"
            )
    run["workload"] = await workload_check(side, arrivals, subs)
    progress.console.log(
        f"{label}: {run['leads_per_s']:.1f} leads/s over {wall:.1f} s ({mode}); router CPU "
        f"{cpu.result.get('router_pct')} %, postgres {cpu.result.get('postgres_pct')} %, kafka "
        f"{cpu.result.get('kafka_pct')} %, other {cpu.result.get('other_pct')} %; "
        f"{run['workload'].get('matched_by')}"
        + (f" [red]TIMED OUT: {decided:,} of {n:,} decided[/red]" if timed_out else "")
    )
    return run, (start_offsets, end)


# --------------------------------------------------------------------------- latency


def _lat(values: list[float]) -> dict[str, float | None]:
    ms = sorted(v * 1000 for v in values)
    return {
        "p50": percentile(ms, 50),
        "p90": percentile(ms, 90),
        "p99": percentile(ms, 99),
        "max": ms[-1] if ms else None,
    }


@dataclass
class Trickle:
    rate: float
    warmup: float
    duration: float
    label: str
    timings: dict[str, float] = field(default_factory=dict)


async def open_loop(
    ingest_url: str,
    reader: DecisionReader,
    people: People,
    trickle: Trickle,
    params: dict[str, Any],
    progress: Progress,
    task: Any,
) -> dict[str, Any]:
    """Signed leads posted through ingest at a constant rate, open loop (schedule-based send
    times); latency to the decision event read, from the scheduled send and from the 202."""
    rate, warmup, duration = trickle.rate, trickle.warmup, trickle.duration
    n = round(rate * (warmup + duration))
    first_measured = round(rate * warmup)
    interval = 1.0 / rate
    persons = people.batch(n, params["returning_pct"])
    prepared = [signed_request(ingest_payload(p.fields)) for p in persons]  # sign up front
    scheduled = [0.0] * n
    lag = [0.0] * n
    responded = [0.0] * n
    status: list[int | str] = [0] * n
    lead_ids: list[str | None] = [None] * n
    total = warmup + duration
    progress.reset(task, total=total, completed=0, description=trickle.label)

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
    trickle.timings = {"t0": t0, "last_send": last_send}

    accepted = [i for i in range(n) if lead_ids[i] is not None]
    backlog_at_last_send = sum(
        1 for i in accepted if reader.seen.get(lead_ids[i] or "", float("inf")) > last_send
    )
    progress.update(task, description=f"{trickle.label}: waiting for decisions")
    await reader.wait_for(
        [lead_ids[i] or "" for i in accepted], last_send + params["drain_timeout"]
    )
    arrivals = {i: reader.seen[lead_ids[i] or ""] for i in accepted if lead_ids[i] in reader.seen}
    measured = range(first_measured, n)
    window_start, window_end = t0 + warmup, t0 + warmup + duration
    latencies = [arrivals[i] - scheduled[i] for i in measured if i in arrivals]
    from_202 = [arrivals[i] - responded[i] for i in measured if i in arrivals]
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
    decisions = Counter(reader.decisions[lead_ids[i] or ""][0] for i in measured if i in arrivals)
    return {
        "offered_rps": rate,
        "sent": len(measured),
        "arrivals": dict(Counter(persons[i].kind for i in measured)),
        "accepted": sum(1 for i in measured if lead_ids[i] is not None),
        "decided": len(latencies),
        "outcomes": dict(decisions),
        "achieved_assigned_per_s": round(in_window / duration, 1),
        "http_errors": errors,
        "lost": len(lost_ids),
        "lost_ids": lost_ids,
        "late": 0,  # filled in at the end: lost here, read after the drain deadline
        "latency_ms": _lat(latencies),
        "latency_from_202_ms": _lat(from_202),
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


# --------------------------------------------------------------------------- fast lane


async def bulk_state(
    stack: Stack, side: Side, topic: str, start: dict[int, int], end: dict[int, int]
) -> dict[str, dict[str, int] | None]:
    """Per router group (its main group and ``<group>-bulk``): how much of the bulk range
    start..end it has committed past, and how far its committed offsets are behind ``end``
    (None: the group never committed on the bulk topic)."""
    out: dict[str, dict[str, int] | None] = {}
    for group in (side.group, f"{side.group}-bulk"):
        committed = await group_offsets(stack.bootstrap, group, topic)
        out[group] = (
            {
                "consumed": consumed(start, end, committed),
                "behind": sum(max(0, end[p] - committed.get(p, 0)) for p in end),
            }
            if committed
            else None
        )
    return out


async def fast_lane(
    stack: Stack,
    main: Side,
    ingest: ServiceProcess,
    ingest_url: str,
    people: People,
    params: dict[str, Any],
    progress: Progress,
    task: Any,
) -> list[dict[str, Any]]:
    assert main.reader is not None
    reader = main.reader
    topic = main.env.topic(LEADS_BULK)
    ingest_pid = {"ingest": ingest.proc.pid if ingest.proc else None}
    runs: list[dict[str, Any]] = []
    rng = random.Random(17)
    for rep in range(params["repeats"]):
        # the list is built before the idle run, so publishing it is only the sending
        names = list_names(params["bulk"], params["companies"], rng, f"r{rep}")
        progress.reset(task, total=None, description=f"building {params['bulk']:,} list names")
        items, bulk_subs = build_received(names, source=LIST_SOURCE, kind="list")
        for condition in ("idle", "import"):
            before = await settle(stack, [main], ingest_pid, params["wait_idle_run"])
            bulk: dict[str, Any] = {}
            if condition == "import":
                start = await end_offsets(stack.bootstrap, topic)
                bulk["before"] = await bulk_state(stack, main, topic, start, start)
                progress.reset(
                    task, total=None, description=f"publishing {params['bulk']:,} list names"
                )
                bulk["publish_s"] = await publish_bytes(stack.bootstrap, topic, items)
                t_published = time.perf_counter()
                end = await end_offsets(stack.bootstrap, topic)
                bulk["published"] = sum(end[p] - start.get(p, 0) for p in end)
            trickle = Trickle(
                params["trickle_rate"],
                params["warmup"],
                params["trickle_duration"],
                f"rep {rep + 1}/{params['repeats']} fast lane {condition}: "
                f"{params['trickle_rate']:g} web leads/s",
            )
            cpu = meter(stack, {"router": main.pid, **ingest_pid})
            with cpu:
                run = await open_loop(ingest_url, reader, people, trickle, params, progress, task)
            run.update(condition=condition, repeat=rep + 1, cpu=cpu.result, before=before)
            if condition == "import":
                last_send = trickle.timings["last_send"]
                decided = sum(1 for s in bulk_subs if reader.seen.get(s, 1e18) <= last_send)
                bulk["decided_by_trickle_end"] = decided
                bulk["decided_by_trickle_end_pct"] = round(100 * decided / len(bulk_subs), 1)
                bulk["committed_at_end"] = await bulk_state(stack, main, topic, start, end)
                bulk["trickle_from_publish_end_s"] = round(last_send - t_published, 1)
                consuming = decided > 0 or any(
                    g and g["consumed"] for g in bulk["committed_at_end"].values()
                )
                bulk["consumed"] = consuming
                if consuming and decided < len(bulk_subs):
                    progress.reset(task, total=len(bulk_subs), description="bulk lane draining")
                    done = await reader.wait_for(
                        bulk_subs,
                        time.perf_counter() + params["bulk_wait"],
                        on_progress=lambda k: progress.update(task, completed=k),
                        alive=main.alive,
                        settled=main.unrouted,
                    )
                    bulk["drained"] = done >= len(bulk_subs)
                    bulk["decided_after_wait"] = done
                else:
                    bulk["drained"] = decided >= len(bulk_subs)
                reads = [reader.seen[s] for s in bulk_subs if s in reader.seen]
                if reads:
                    bulk["drain_s_from_publish_end"] = round(max(reads) - t_published, 1)
                    bulk["decided_per_s"] = round(
                        len(reads) / max(1e-6, max(reads) - (t_published - bulk["publish_s"])), 1
                    )
                run["bulk"] = bulk
            runs.append(run)
            lat = run["latency_from_202_ms"]
            progress.console.log(
                f"{trickle.label}: from the 202 p50 {fmt(lat['p50'], 0)} ms, p99 "
                f"{fmt(lat['p99'], 0)} ms, max {fmt(lat['max'], 0)} ms; lost {run['lost']}"
                + (
                    f"; bulk decided by trickle end {bulk['decided_by_trickle_end']:,} of "
                    f"{bulk['published']:,}, committed {bulk['committed_at_end']}"
                    if bulk
                    else ""
                )
            )
            main.alive()
    return runs


# --------------------------------------------------------------------------- orchestration


def _columns() -> tuple[Any, ...]:
    return (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )


def _returning_needed(params: dict[str, Any]) -> dict[str, int]:
    """Returning people each section may draw (per kind): bursts, rate runs, trickles."""
    pct = params["returning_pct"] / 100
    tp = params["repeats"] * params["leads"] * pct
    lat = params["repeats"] * sum(
        r * (params["warmup"] + params["duration"]) for r in params["rates"]
    )
    fast = (
        2
        * params["repeats"]
        * params["trickle_rate"]
        * (params["warmup"] + params["trickle_duration"])
    )
    per_kind = {
        "throughput": int(tp / len(RETURNING_KINDS)) + 2,
        "latency": int(lat * pct / len(RETURNING_KINDS)) + 2,
        "fast_lane": int(fast * pct / len(RETURNING_KINDS)) + 2,
    }
    return per_kind


async def run_all(
    stack: Stack, tmp: Path, procs: list[ServiceProcess], params: dict[str, Any]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    routing = load_routing_config(ROUTING_FILE)
    extra_env = {"LEADFLOW_ROUTER_ROUTING_FILE": str(ROUTING_FILE), **params["router_env"]}
    main_engine = db.create_engine(stack.database_url, pool_size=2)
    seeded_name = "1M" if params["seed_leads"] == 1_000_000 else f"{params['seed_leads']:,}"
    main = Side(
        seeded_name,
        RouterEnv(stack=stack, prefix="benchseeded.", database_url=stack.database_url),
        main_engine,
        tmp / "router-seeded.log",
        procs,
        extra_env,
    )
    await ensure_topics(stack.bootstrap, all_topics(main.env.prefix))
    await ensure_topics(stack.bootstrap, {main.env.topic(NULL_TOPIC): 12})
    sides = [main]
    if params["baseline"]:
        # a second database on the same server, migrated, with its own prefix
        empty_env = await make_router_env(stack)
        sides.append(
            Side(
                "empty",
                empty_env,
                db.create_engine(empty_env.database_url, pool_size=2),
                tmp / "router-empty.log",
                procs,
                extra_env,
            )
        )
    result["imported_from"] = imported_from(main.router_env())
    result["postgres_settings"] = await postgres_settings(main_engine)
    producer = EventProducer(stack.bootstrap)
    await producer.start(required=True)
    try:
        with Progress(*_columns(), console=console, transient=False) as progress:
            # ---- each router seeds its teams, reps and rules, then stops
            for side in sides:
                await side.start_router()
                await side.stop()
            # ---- seeding
            result["seed"] = s = await seed(
                main_engine,
                params["seed_leads"],
                params["companies"],
                progress,
                SCORING_FILE,
                routing,
            )
            progress.console.log(
                f"seeded {s['leads']:,} leads + {s['identities']:,} identities in "
                f"{s['insert_s']:.1f} s; VACUUM ANALYZE {s['vacuum_analyze_s']:.1f} s; "
                f"statuses {s['status']}"
            )
            s["check"] = await check_seed(main_engine, SCORING_FILE)
            result["reps"] = {side.name: await set_open_leads(side.engine) for side in sides}
            progress.console.log(
                "reps' open leads: "
                + ", ".join(f"{r['rep']} {r['open_leads']:,}" for r in result["reps"][main.name])
            )
            needed = _returning_needed(params)
            wanted = {k: sum(needed.values()) for k in RETURNING_KINDS}
            pools = await returning_pools(main_engine, wanted, s["status"])
            result["returning_pools"] = {k: len(v) for k, v in pools.items()}

            def split(section: str) -> dict[str, list[Any]]:
                out = {}
                for kind, pool in pools.items():
                    cut = needed[section]
                    out[kind], pools[kind] = pool[:cut], pool[cut:]
                return out

            combos = sales_ready_combos(SCORING_FILE)
            tp_pools = split("throughput")
            main.people = People(
                params["companies"], tp_pools, combos, block=0, rng=random.Random(7)
            )
            for i, side in enumerate(sides[1:], start=1):
                # the same kinds of people; in the empty database nobody is known
                side.people = People(
                    params["companies"],
                    {k: list(v) for k, v in tp_pools.items()},
                    combos,
                    block=i,
                    rng=random.Random(8),
                )
            async with contextlib.AsyncExitStack() as readers:
                for side in sides:
                    side.reader = await readers.enter_async_context(
                        DecisionReader(stack.bootstrap, side.env.topic(LEAD_ASSIGNED.topic))
                    )
                result.update(
                    await measure(stack, tmp, procs, sides, producer, params, progress, split)
                )
    finally:
        await producer.stop()
        for side in sides:
            with contextlib.suppress(Exception):
                await side.stop()
            with contextlib.suppress(Exception):
                await side.engine.dispose()
    return result


async def measure(
    stack: Stack,
    tmp: Path,
    procs: list[ServiceProcess],
    sides: list[Side],
    producer: EventProducer,
    params: dict[str, Any],
    progress: Progress,
    split: Any,
) -> dict[str, Any]:
    main = sides[0]
    result: dict[str, Any] = {"skipped": []}
    # ---- throughput: seeded vs empty, alternating; the null loop after each seeded burst
    runs, nulls = [], []
    task = progress.add_task("", total=params["leads"])
    for rep in range(params["repeats"]):
        order = sides if rep % 2 == 0 else list(reversed(sides))
        for side in order:
            if side.broken:
                continue
            before = await settle(stack, sides, {}, params["wait_idle_run"])
            others = [s for s in sides if s is not side]
            run, (start, end) = await burst(
                side, stack, producer, params, rep, progress, task, others
            )
            run["before"] = before
            runs.append(run)
            if side is main and params["null_loop"]:
                progress.update(task, description=f"rep {rep + 1} null loop")
                quiet = await settle(stack, sides, {}, params["wait_idle_run"])
                null = await null_loop(
                    stack.bootstrap,
                    main.env.topic(LEAD_RECEIVED.topic),
                    main.env.topic(NULL_TOPIC),
                    f"{main.env.prefix}null-loop",
                    start,
                    end,
                    batch=params["null_batch"],
                    kafka_pid=stack.kafka.pid(),
                    postmaster=postmaster_pid(stack),
                    timeout=600,
                )
                null.update(repeat=rep + 1, before=quiet)
                nulls.append(null)
                progress.console.log(
                    f"rep {rep + 1} null loop: {null['messages']:,} messages, "
                    f"{null['messages_per_s']} /s, {null['cpu_ms_per_message']} ms CPU each"
                )
    result["throughput_runs"] = runs
    result["null_loop_runs"] = nulls
    result["skipped"] += [f"{s.name}: {s.broken}" for s in sides if s.broken]
    for side in sides[1:]:
        await side.stop()
    if main.broken:
        result["skipped"].append("latency and fast lane: the seeded router did not keep up")
        return result
    if main.router is None:
        await main.start_router()

    # ---- ingest beside the seeded database's router
    ingest = ServiceProcess(
        INGEST,
        # tests/signing.py signs with the dev secret
        main.router_env(LEADFLOW_SOURCE_WEBSITE_SECRETS=DEV_WEBHOOK_SECRET),
        port=free_port(),
        log=tmp / "ingest.log",
    )
    procs.append(ingest)
    await asyncio.to_thread(ingest.start)
    await asyncio.to_thread(ingest.wait_ready)
    ingest_url = f"{ingest.url}{LEADS_PATH}"
    assert_loopback(ingest_url)
    assert main.reader is not None and main.people is not None
    ingest_pid = {"ingest": ingest.proc.pid if ingest.proc else None}
    used = main.people._order

    def people_for(section: str, block: int, seed: int) -> People:
        assert main.people is not None
        p = People(
            params["companies"],
            split(section),
            main.people.combos,
            block=block,
            rng=random.Random(seed),
        )
        p._order = list(used)  # companies the bursts have not used yet
        p.rng.shuffle(p._order)
        return p

    # ---- latency at constant rates
    latency_runs = []
    if params["rates"]:
        lat_people = people_for("latency", 5, 9)
        for rep in range(params["repeats"]):
            for rate in params["rates"]:
                before = await settle(stack, [main], ingest_pid, params["wait_idle_run"])
                trickle = Trickle(
                    rate,
                    params["warmup"],
                    params["duration"],
                    f"rep {rep + 1}/{params['repeats']} latency {rate:g} leads/s",
                )
                cpu = meter(stack, {"router": main.pid, **ingest_pid})
                with cpu:
                    run = await open_loop(
                        ingest_url, main.reader, lat_people, trickle, params, progress, task
                    )
                run.update(repeat=rep + 1, cpu=cpu.result, before=before, saturated=saturated(run))
                latency_runs.append(run)
                lat = run["latency_ms"]
                progress.console.log(
                    f"{trickle.label}: decided {run['achieved_assigned_per_s']:.1f}/s, p50 "
                    f"{fmt(lat['p50'], 0)} ms, p99 {fmt(lat['p99'], 0)} ms, max "
                    f"{fmt(lat['max'], 0)} ms; lost "
                    f"{run['lost']}" + (" [yellow]SATURATED[/yellow]" if run["saturated"] else "")
                )
                main.alive()
    result["latency_runs"] = latency_runs

    # ---- fast lane: a trickle of web leads, idle and while a list import drains
    fast_runs: list[dict[str, Any]] = []
    if params["fast_lane"]:
        fast_people = people_for("fast_lane", 6, 10)
        fast_runs = await fast_lane(
            stack, main, ingest, ingest_url, fast_people, params, progress, task
        )
    result["fast_lane_runs"] = fast_runs

    # anything lost at its deadline but read later is late, not lost
    await asyncio.sleep(2.0)
    for run in [*latency_runs, *fast_runs]:
        late = sum(1 for sid in run["lost_ids"] if sid in main.reader.seen)
        run["late"] = late
        run["lost"] -= late
        run["lost_ids"] = [sid for sid in run["lost_ids"] if sid not in main.reader.seen]
    progress.update(task, visible=False)
    return result


# --------------------------------------------------------------------------- main


def _parse_rates(value: str) -> list[float]:
    try:
        rates = [float(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter("comma-separated numbers, e.g. 10,20,30") from None
    if any(not 0 < r <= MAX_RATE for r in rates):
        raise typer.BadParameter(f"each rate must be in (0, {MAX_RATE:g}]")
    return rates


def _router_env(pairs: list[str]) -> dict[str, str]:
    """LEADFLOW_ROUTER_* from the environment, then --router-env NAME=VALUE (which wins);
    the routing file and consumer group stay the benchmark's own."""
    env = {k: v for k, v in os.environ.items() if k.startswith("LEADFLOW_ROUTER_")}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.startswith("LEADFLOW_"):
            raise typer.BadParameter(f"--router-env wants LEADFLOW_NAME=VALUE, got {pair!r}")
        env[name] = value
    for name in OWN_ROUTER_ENV:
        if env.pop(name, None) is not None:
            console.log(f"[yellow]{name} ignored: the benchmark sets it[/yellow]")
    return dict(sorted(env.items()))


def _write(out: Path, name: str, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (out / f"{name}.md").write_text(markdown(result))


@app.command()
def main(
    seed_leads: Annotated[
        int, typer.Option(help="existing leads seeded into router.lead")
    ] = 1_000_000,
    companies: Annotated[int, typer.Option(help="companies the seeded leads work at")] = 50_000,
    leads: Annotated[int, typer.Option(help="leads per throughput burst")] = 20_000,
    returning_pct: Annotated[
        float,
        typer.Option(help="% of arrivals that are returning seeded people (email/phone/fuzzy)"),
    ] = 25.0,
    repeats: Annotated[
        int, typer.Option(help="repeats of every measurement (medians reported)")
    ] = 3,
    baseline: Annotated[
        bool, typer.Option(help="also measure throughput against an empty database")
    ] = True,
    burst_timeout: Annotated[
        float,
        typer.Option(
            help="give up timing a burst after this many s (0: "
            f"{AUTO_TIMEOUT_BASE_S:g} + leads / {AUTO_TIMEOUT_FLOOR_RATE:g})"
        ),
    ] = 0.0,
    null_loop_: Annotated[
        bool, typer.Option("--null-loop/--no-null-loop", help="measure the null aiokafka loop")
    ] = True,
    null_batch: Annotated[int, typer.Option(help="null loop: getmany max_records")] = 500,
    rates: Annotated[
        str, typer.Option(help="latency: offered rates, leads/s, comma separated ('' skips)")
    ] = "10,20,30",
    duration: Annotated[float, typer.Option(help="latency: measured seconds per run")] = 20.0,
    warmup: Annotated[
        float, typer.Option(help="latency and fast lane: unmeasured seconds before each run")
    ] = 3.0,
    fast_lane_: Annotated[
        bool, typer.Option("--fast-lane/--no-fast-lane", help="measure the fast lane")
    ] = True,
    trickle_rate: Annotated[float, typer.Option(help="fast lane: web leads/s")] = 5.0,
    trickle_duration: Annotated[float, typer.Option(help="fast lane: measured seconds")] = 60.0,
    bulk: Annotated[
        int, typer.Option(help="fast lane: list names published to leads.bulk.v1")
    ] = 100_000,
    bulk_wait: Annotated[
        float,
        typer.Option(help="fast lane: wait up to this many s for a consumed bulk lane to drain"),
    ] = 600.0,
    drain_timeout: Annotated[
        float, typer.Option(help="latency: wait this long after the last send for decisions")
    ] = 60.0,
    timeout: Annotated[float, typer.Option(help="per-request HTTP timeout, s")] = 10.0,
    router_env: Annotated[
        list[str] | None,
        typer.Option(help="LEADFLOW_NAME=VALUE for the router processes (repeatable)"),
    ] = None,
    out: Annotated[Path, typer.Option(help="results directory")] = RESULTS_DIR,
    name: Annotated[str, typer.Option(help="results file stem")] = "router",
    label: Annotated[str, typer.Option(help="what is measured, for the results' title")] = "",
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
        bool, typer.Option(help="only re-render <name>.md (and the tables) from <name>.json")
    ] = False,
    keep: Annotated[
        bool, typer.Option(help="keep the temp dir (logs, data) for inspection")
    ] = False,
) -> None:
    """Router throughput (1M existing leads vs empty), CPU vs a null loop, latency, fast lane."""
    if render_only:
        result = json.loads((out / f"{name}.json").read_text())
        result["summary"] = summarize(result)
        _write(out, name, result)
        print_tables(result)
        console.print(f"re-rendered {out / f'{name}.md'} from {out / f'{name}.json'}")
        return
    rate_list = _parse_rates(rates)
    if burst_timeout == 0:
        burst_timeout = AUTO_TIMEOUT_BASE_S + leads / AUTO_TIMEOUT_FLOOR_RATE
    checks = [
        (1000 <= seed_leads <= MAX_SEED, f"--seed-leads must be in [1000, {MAX_SEED:,}]"),
        (1 <= companies <= MAX_COMPANIES, f"--companies must be in [1, {MAX_COMPANIES:,}]"),
        (1 <= leads <= MAX_LEADS, f"--leads must be in [1, {MAX_LEADS:,}]"),
        (0 <= returning_pct <= 60, "--returning-pct must be in [0, 60]"),
        (0 < duration <= MAX_DURATION, f"--duration must be in (0, {MAX_DURATION:g}]"),
        (0 <= warmup <= MAX_WARMUP, f"--warmup must be in [0, {MAX_WARMUP:g}]"),
        (1 <= repeats <= MAX_REPEATS, f"--repeats must be in [1, {MAX_REPEATS}]"),
        (
            0 < burst_timeout <= MAX_BURST_TIMEOUT,
            f"--burst-timeout must be in (0, {MAX_BURST_TIMEOUT:g}]",
        ),
        (1 <= null_batch <= 10_000, "--null-batch must be in [1, 10,000]"),
        (0 < trickle_rate <= MAX_RATE, f"--trickle-rate must be in (0, {MAX_RATE:g}]"),
        (
            0 < trickle_duration <= MAX_DURATION,
            f"--trickle-duration must be in (0, {MAX_DURATION:g}]",
        ),
        (1 <= bulk <= MAX_BULK, f"--bulk must be in [1, {MAX_BULK:,}]"),
        (0 <= bulk_wait <= 3600, "--bulk-wait must be in [0, 3600]"),
        (0 < drain_timeout <= MAX_DRAIN, f"--drain-timeout must be in (0, {MAX_DRAIN:g}]"),
        (0 < timeout <= 60, "--timeout must be in (0, 60]"),
        (0 <= wait_idle_run <= 600, "--wait-idle-run must be in [0, 600]"),
        (name.replace("-", "").replace("_", "").isalnum(), "--name: letters, digits, - and _"),
    ]
    for ok, message in checks:
        if not ok:
            raise typer.BadParameter(message)

    factory, loop_name = loop_factory()
    params: dict[str, Any] = {
        "command": " ".join(["python -m tests.bench.router", *sys.argv[1:]]),
        "label": label,
        "seed_leads": seed_leads,
        "companies": companies,
        "leads": leads,
        "returning_pct": returning_pct,
        "repeats": repeats,
        "baseline": baseline,
        "burst_timeout": burst_timeout,
        "null_loop": null_loop_,
        "null_batch": null_batch,
        "rates": rate_list,
        "duration": duration,
        "warmup": warmup,
        "fast_lane": fast_lane_,
        "trickle_rate": trickle_rate,
        "trickle_duration": trickle_duration,
        "bulk": bulk,
        "bulk_wait": bulk_wait,
        "drain_timeout": drain_timeout,
        "timeout": timeout,
        "wait_idle_run": wait_idle_run,
        "router_env": _router_env(router_env or []),
        "client_loop": loop_name,
        "routing_file": str(ROUTING_FILE.relative_to(REPO_ROOT)),
        "postgres_durable": True,
    }

    def on_sigterm(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    per_burst = 3 * burst_timeout + 2 * wait_idle_run + 660  # timeout, rest, null loop
    per_rate = warmup + duration + drain_timeout + wait_idle_run + 65
    per_trickle = warmup + trickle_duration + drain_timeout + wait_idle_run + 65
    worst = repeats * (
        (2 if baseline else 1) * per_burst
        + len(rate_list) * per_rate
        + (2 * per_trickle + bulk_wait + bulk / 2000 if fast_lane_ else 0)
    )
    console.log(
        f"bounded: at most ~{worst / 60:.0f} min of measurements (timeouts) plus seeding "
        f"{seed_leads:,} leads; bursts of {leads:,} time out after {burst_timeout:.0f} s"
    )
    params["idle_before_start"] = wait_for_quiet(min(wait_idle, 1800.0))
    params["code"] = code_version(*CODE_PATHS)
    machine = machine_info()
    started = time.perf_counter()
    try:
        with bench_stack("router", keep) as (stack, tmp, procs):
            with asyncio.Runner(loop_factory=factory) as runner:
                raw = runner.run(run_all(stack, tmp, procs, params))
    except KeyboardInterrupt:
        console.print("[red]interrupted: stack torn down, no results written[/red]")
        raise typer.Exit(130) from None
    after = code_version(*CODE_PATHS)
    if after["fingerprint"] != params["code"]["fingerprint"]:
        console.log("[red]the service code changed while the benchmark ran[/red]")
    params["code_after"] = after

    result = {
        "machine": machine,
        "parameters": params,
        "elapsed_s": round(time.perf_counter() - started, 1),
        **raw,
    }
    result["summary"] = summarize(result)
    _write(out, name, result)
    print_tables(result)
    console.print(
        f"results: {out / f'{name}.json'}, {out / f'{name}.md'} ({result['elapsed_s']:.0f} s)"
    )


if __name__ == "__main__":
    app()
