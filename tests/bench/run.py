"""Ingest latency/throughput benchmark against a bare FastAPI baseline.

``python -m tests.bench.run [--rates 100,300,400] [--duration 10] [--warmup 2] [--repeats 3]``
(``make bench BENCH_ARGS="..."``).

What it does:

1. Starts its own isolated stack in a temp dir on free loopback ports (embedded PostgreSQL
   with fsync on, a KRaft Kafka broker, migrations, topics), then the ingest service and a bare
   FastAPI app (``tests/bench/bare_app.py``), both as one-worker uvicorn subprocesses started
   with the same command line (``ServiceProcess``). Everything is torn down at the end, also
   on error, Ctrl-C or SIGTERM.
2. Open loop: requests are scheduled at fixed intervals for a constant offered rate, whatever
   the responses; latency is measured from the *scheduled* send time, so queueing in the
   client, the kernel and the server counts (no coordinated omission). The warm-up is
   discarded. Every ingest request is a distinct lead (unique email) signed with a fresh
   ``webhook-id``; the bare app gets the same requests.
3. Closed loop ("max throughput"): N clients send back to back for a fixed time.
4. Server CPU per accepted request: the server process's CPU, read from /proc at the edges of
   each run's measured window, divided by the 2xx responses completed in that window.
5. Writes ``tests/bench/results/ingest.json`` and ``ingest.md``, with a Targets section (CPU per
   accepted request, p99 at 100 and 300 req/s); prints the tables.

The load generator (this process, asyncio + httpx) is separate from the servers but shares the
machine's cores with them: its CPU use is recorded with every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import os
import platform
import shutil
import signal
import ssl
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from services.ingest.domain.signatures import sign
from shared.settings import DEV_WEBHOOK_SECRET
from shared.stack.common import REPO_ROOT, free_port
from shared.stack.kafka import kafka_version
from shared.stack.stack import SERVICES, ServiceProcess, ServiceSpec, Stack
from tests.bench.common import (
    _cpu_model,
    _machine_cpu,
    _mem_total_mb,
    _tree_cpu,
    percentile,
    wait_for_quiet,
)
from tests.bench.common import assert_loopback as _assert_loopback
from tests.bench.common import fmt as _fmt
from tests.bench.common import loop_factory as _loop_factory
from tests.bench.common import postmaster_pid as _postmaster_pid
from tests.bench.common import proc_cpu_seconds as _proc_cpu_seconds

RESULTS_DIR = REPO_ROOT / "tests" / "bench" / "results"
LEADS_PATH = "/v1/leads"
SOURCE = "website"

# Hard bounds: the benchmark must stay small and finite whatever BENCH_ARGS says.
MAX_RATE = 5000
MAX_DURATION = 120.0
MAX_WARMUP = 30.0
MAX_REPEATS = 10
MAX_CONCURRENCY = 256
MAX_POOL = 1024
MAX_REQUESTS_PER_RUN = 200_000
DISTURBED_OTHER_PCT = 50

# Targets for ingest on this machine, checked in the report's Targets section (medians over
# repeats): server CPU per accepted request in every run, p99 latency at the given offered rates.
CPU_MS_PER_OK_TARGET = 2.5
P99_TARGETS_MS = {100.0: 30.0, 300.0: 80.0}

console = Console()
app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


# --------------------------------------------------------------------------- requests


def _lead_body(tag: str, i: int) -> bytes:
    return json.dumps(
        {
            "email": f"bench.{tag}.{i}@example.com",
            "first_name": "Bench",
            "last_name": f"Lead{i}",
            "company": "Benchmark Industries",
            "job_title": "Head of Load",
            "country": "US",
            "form_id": "bench",
            "utm_source": "bench",
        },
        separators=(",", ":"),
    ).encode()


def _signed(secret: str, body: bytes) -> dict[str, str]:
    msg_id = f"msg_{uuid.uuid4().hex}"
    ts = int(time.time())
    return {
        "content-type": "application/json",
        "x-leadflow-source": SOURCE,
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
    }


class RequestFactory:
    """Distinct, freshly signed leads: unique email and webhook-id per call."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.tag = uuid.uuid4().hex[:10]
        self.count = 0

    def __call__(self) -> tuple[bytes, dict[str, str]]:
        self.count += 1
        body = _lead_body(self.tag, self.count)
        return body, _signed(self.secret, body)


# --------------------------------------------------------------------------- measuring


def _latency_summary(seconds: list[float]) -> dict[str, float | None]:
    ms = sorted(s * 1000 for s in seconds)
    return {
        "p50": percentile(ms, 50),
        "p90": percentile(ms, 90),
        "p99": percentile(ms, 99),
        "max": ms[-1] if ms else None,
        "mean": statistics.fmean(ms) if ms else None,
    }


class CpuMeter:
    """CPU use over one run, in % of one core: this process, the server, Kafka, PostgreSQL
    (postmaster + backends), everything else on the machine; and the machine's busy share
    of all its cores."""

    def __init__(self, server: int | None, kafka: int | None, postmaster: int | None) -> None:
        self.pids = {"server": server, "kafka": kafka}
        self.postmaster = postmaster

    def __enter__(self) -> CpuMeter:
        self.wall0 = time.perf_counter()
        self.self0 = time.process_time()
        self.procs0 = {name: _proc_cpu_seconds(pid) for name, pid in self.pids.items()}
        self.pg0 = _tree_cpu(self.postmaster)
        self.machine0 = _machine_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.wall0
        busy1, total1 = _machine_cpu()
        busy0, total0 = self.machine0
        ncpu = len(os.sched_getaffinity(0))
        busy_share = (busy1 - busy0) / max(1, total1 - total0)
        self.result: dict[str, float | None] = {
            "loadgen_pct": round(100 * (time.process_time() - self.self0) / wall, 1),
            "machine_busy_pct": round(100 * busy_share, 1),
        }
        for name, pid in self.pids.items():
            before, after = self.procs0[name], _proc_cpu_seconds(pid)
            self.result[f"{name}_pct"] = (
                None if before is None or after is None else round(100 * (after - before) / wall, 1)
            )
        if self.postmaster is not None:
            pg1 = _tree_cpu(self.postmaster)
            spent = sum(v - self.pg0.get(p, 0.0) for p, v in pg1.items())
            self.result["postgres_pct"] = round(100 * spent / wall, 1)
        else:
            self.result["postgres_pct"] = None
        ours = sum(
            v or 0.0
            for k, v in self.result.items()
            if k in ("loadgen_pct", "server_pct", "kafka_pct", "postgres_pct")
        )
        # everything else on the machine (incl. kernel work not charged to a process)
        self.result["other_pct"] = round(max(0.0, 100 * busy_share * ncpu - ours), 1)


async def window_cpu_pct(pid: int | None, start: float, end: float) -> float | None:
    """One process's CPU over [start, end) (perf_counter clock), in % of one core.

    Read from /proc when the window opens and when it closes, so the figure covers the same
    window as the achieved throughput; ``CpuMeter`` covers the whole run (connection set-up,
    warm-up, the window and the drain after the last send). Divided by the actual time between
    the two reads, so a late wake-up shifts the window a little but does not stretch it."""
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    t0, cpu0 = time.perf_counter(), _proc_cpu_seconds(pid)
    await asyncio.sleep(max(0.0, end - time.perf_counter()))
    t1, cpu1 = time.perf_counter(), _proc_cpu_seconds(pid)
    if cpu0 is None or cpu1 is None or t1 <= t0:
        return None
    return round(100 * (cpu1 - cpu0) / (t1 - t0), 2)


def cpu_ms_per_ok(cpu_pct: float | None, ok_per_s: float | None) -> float | None:
    """CPU milliseconds per 2xx response, from CPU in % of one core over a window and the 2xx
    responses per second completed in that window: pct / 100 core-s per s * 1000 / (2xx/s)."""
    if cpu_pct is None or not ok_per_s:
        return None
    return round(cpu_pct * 10 / ok_per_s, 3)


def _outcome(response: httpx.Response | None, exc: BaseException | None) -> int | str:
    if response is not None:
        return response.status_code
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__ if exc else "unknown"


def _is_ok(status: int | str) -> bool:
    return isinstance(status, int) and 200 <= status < 300


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # never used (plain http on loopback), but building one per client costs ~35 ms
    return ssl.create_default_context()


def _client(connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=_tls_context(),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=None,  # bounded by asyncio.timeout around each request
        trust_env=False,  # never route loopback traffic through a proxy from the environment
    )


class ConnectionPool:
    """``size`` keep-alive connections: one single-connection httpx.AsyncClient each.

    One AsyncClient with a pool of N connections costs O(N) CPU per request in httpcore's
    pool bookkeeping; on this class of machine 32 concurrent requests through one shared
    pool ran at ~150 req/s with the generator at 100 % CPU, against ~1,000 req/s with one
    client per connection. Handing out whole clients (LIFO, so warm connections are reused)
    keeps the generator's cost per request flat. Waiting for a free connection is part of
    the measured latency.
    """

    def __init__(self, size: int) -> None:
        self.clients = [_client(1) for _ in range(size)]
        self.free = list(self.clients)
        self.slots = asyncio.Semaphore(size)

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        async with self.slots:
            client = self.free.pop()
            try:
                yield client
            finally:
                self.free.append(client)

    async def __aenter__(self) -> ConnectionPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients), return_exceptions=True)


Tick = Callable[[float], None]


async def _ticker(tick: Tick, start: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        tick(time.perf_counter() - start)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


async def open_loop(
    url: str,
    *,
    rate: float,
    warmup: float,
    duration: float,
    request_timeout: float,
    pool: int,
    factory: RequestFactory,
    tick: Tick,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """Constant offered rate; latency from each request's scheduled send time."""
    n = round(rate * (warmup + duration))
    first_measured = round(rate * warmup)
    interval = 1.0 / rate
    prepared = [factory() for _ in range(n)]  # sign up front: the send loop stays cheap
    scheduled = [0.0] * n
    done = [0.0] * n
    lag = [0.0] * n
    status: list[int | str] = [0] * n

    async with ConnectionPool(pool) as connections:

        async def one(i: int) -> None:
            body, headers = prepared[i]
            response, error = None, None
            try:
                async with asyncio.timeout(request_timeout), connections.client() as client:
                    response = await client.post(url, content=body, headers=headers)
            except (TimeoutError, httpx.HTTPError, OSError) as exc:
                error = exc
            done[i] = time.perf_counter()
            status[i] = _outcome(response, error)

        stop = asyncio.Event()
        t0 = time.perf_counter() + 0.05
        ticker = asyncio.create_task(_ticker(tick, t0, stop))
        server_cpu = asyncio.create_task(
            window_cpu_pct(server_pid, t0 + warmup, t0 + warmup + duration)
        )
        tasks = []
        for i in range(n):
            scheduled[i] = due = t0 + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lag[i] = time.perf_counter() - due
            tasks.append(asyncio.create_task(one(i)))
        last_send = time.perf_counter()
        await asyncio.gather(*tasks)
        drain = time.perf_counter() - last_send
        stop.set()
        await ticker
        server_window_pct = await server_cpu

    window_start, window_end = t0 + warmup, t0 + warmup + duration
    measured = range(first_measured, n)
    ok_in_window = sum(
        1 for i in range(n) if _is_ok(status[i]) and window_start <= done[i] < window_end
    )
    outcomes = Counter(str(status[i]) for i in measured)
    errors = {k: v for k, v in outcomes.items() if not _is_ok(int(k) if k.isdigit() else k)}
    latencies = [done[i] - scheduled[i] for i in measured]
    ok_latencies = [done[i] - scheduled[i] for i in measured if _is_ok(status[i])]
    lags = sorted(lag[i] * 1000 for i in measured)
    return {
        "offered_rps": rate,
        "sent": len(measured),
        "achieved_rps": round(ok_in_window / duration, 1),
        "ok_in_window": ok_in_window,
        "server_window_pct": server_window_pct,
        "server_cpu_ms_per_ok": cpu_ms_per_ok(server_window_pct, ok_in_window / duration),
        "ok": sum(1 for i in measured if _is_ok(status[i])),
        "errors": errors,
        "latency_ms": _latency_summary(latencies),
        "ok_latency_ms": _latency_summary(ok_latencies),
        "send_lag_ms": {"p50": percentile(lags, 50), "p99": percentile(lags, 99), "max": lags[-1]},
        "drain_s": round(drain, 3),
    }


async def closed_loop(
    url: str,
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    request_timeout: float,
    factory: RequestFactory,
    tick: Tick,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """N clients, each sending its next request as soon as the previous one is answered."""
    t0 = time.perf_counter()
    window_start, window_end = t0 + warmup, t0 + warmup + duration
    ok = 0
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []

    async with ConnectionPool(concurrency) as connections:

        async def worker() -> None:
            async with connections.client() as client:  # one connection per client
                await _worker_loop(client)

        async def _worker_loop(client: httpx.AsyncClient) -> None:
            nonlocal ok
            while (start := time.perf_counter()) < window_end:
                body, headers = factory()
                response, error = None, None
                try:
                    async with asyncio.timeout(request_timeout):
                        response = await client.post(url, content=body, headers=headers)
                except (TimeoutError, httpx.HTTPError, OSError) as exc:
                    error = exc
                end = time.perf_counter()
                result = _outcome(response, error)
                if window_start <= end < window_end:
                    outcomes[str(result)] += 1
                    ok += _is_ok(result)
                if start >= window_start:
                    latencies.append(end - start)

        stop = asyncio.Event()
        ticker = asyncio.create_task(_ticker(tick, t0, stop))
        server_cpu = asyncio.create_task(window_cpu_pct(server_pid, window_start, window_end))
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        stop.set()
        await ticker
        server_window_pct = await server_cpu

    errors = {k: v for k, v in outcomes.items() if not (k.isdigit() and 200 <= int(k) < 300)}
    return {
        "concurrency": concurrency,
        "achieved_rps": round(ok / duration, 1),
        "ok": ok,
        "server_window_pct": server_window_pct,
        "server_cpu_ms_per_ok": cpu_ms_per_ok(server_window_pct, ok / duration),
        "errors": errors,
        "latency_ms": _latency_summary(latencies),
    }


async def settle(base_url: str, limit: float = 30.0) -> None:
    """Let a server finish any backlog: wait until /readyz answers quickly."""
    await asyncio.sleep(1.0)
    deadline = time.perf_counter() + limit
    async with _client(1) as client:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                response = await client.get(f"{base_url}/readyz", timeout=5)
                if response.status_code == 200 and time.perf_counter() - start < 0.05:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.25)


# --------------------------------------------------------------------------- environment


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_mb": _mem_total_mb(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "kafka_version": kafka_version(),
        "loadavg_at_start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "packages": {
            d: _version(d)
            for d in (
                "fastapi",
                "uvicorn",
                "uvloop",
                "httptools",
                "httpx",
                "aiokafka",
                "asyncpg",
                "sqlalchemy",
                "pydantic",
            )
        },
    }


@dataclass
class Target:
    name: str
    proc: ServiceProcess

    @property
    def base(self) -> str:
        return self.proc.url

    @property
    def url(self) -> str:
        return f"{self.base}{LEADS_PATH}"

    @property
    def pid(self) -> int | None:
        return self.proc.proc.pid if self.proc.proc else None


@contextlib.contextmanager
def bench_environment(keep: bool) -> Iterator[tuple[Stack, list[Target], Path]]:
    """Own stack + ingest + bare app on free loopback ports in a temp dir; always torn down."""
    tmp = Path(tempfile.mkdtemp(prefix="leadflow-bench-"))
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
            env = stack.env(LEADFLOW_LOG_LEVEL="WARNING")
            # dev mode signs 'website' with this secret unless the environment names another
            env.setdefault("LEADFLOW_SOURCE_WEBSITE_SECRETS", DEV_WEBHOOK_SECRET)
            status.update("starting ingest ...")
            ingest = ServiceProcess(SERVICES[0], env, port=free_port(), log=tmp / "ingest.log")
            procs.append(ingest)
            ingest.start()
            ingest.wait_ready()
            status.update("starting the bare app ...")
            bare_spec = ServiceSpec("bare", "tests.bench.bare_app:create_app", 0, None, "bare")
            bare = ServiceProcess(bare_spec, env, port=free_port(), log=tmp / "bare.log")
            procs.append(bare)
            bare.start()
            bare.wait_ready()
        targets = [Target("bare", bare), Target("ingest", ingest)]
        for target in targets:
            _assert_loopback(target.url)
        console.log(
            f"stack in {tmp}: postgres :{stack.pg_port}, kafka :{stack.kafka_port}, "
            f"ingest {ingest.url}, bare {bare.url}"
        )
        yield stack, targets, tmp
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


# --------------------------------------------------------------------------- aggregation


CPU_KEYS = (
    "loadgen_pct",
    "server_pct",
    "kafka_pct",
    "postgres_pct",
    "other_pct",
    "machine_busy_pct",
)


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 2) if present else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def _sum_errors(runs: list[dict[str, Any]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for run in runs:
        total.update(run["errors"])
    return dict(sorted(total.items()))


def _server_cpu(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    """Medians over repeats of the server's CPU in the measured window: % of one core and ms
    per 2xx response (each repeat's own ratio; runs recorded before these fields give None)."""
    return {
        "server_window_pct": _median([r.get("server_window_pct") for r in runs]),
        "server_cpu_ms_per_ok": _median([r.get("server_cpu_ms_per_ok") for r in runs]),
    }


def summarize(raw: dict[str, Any], rates: list[float]) -> dict[str, Any]:
    open_rows = []
    for rate in rates:
        row: dict[str, Any] = {"offered_rps": rate}
        for name in ("bare", "ingest"):
            runs = [r for r in raw["open_loop"] if r["target"] == name and r["offered_rps"] == rate]
            row[name] = {
                "achieved_rps": _median([r["achieved_rps"] for r in runs]),
                "latency_ms": {
                    k: _median([r["latency_ms"][k] for r in runs])
                    for k in ("p50", "p90", "p99", "max")
                },
                "errors_total": _sum_errors(runs),
                "requests_total": sum(r["sent"] for r in runs),
                "send_lag_p99_ms": _median([r["send_lag_ms"]["p99"] for r in runs]),
                "cpu_pct": {k: _median([r["cpu"].get(k) for r in runs]) for k in CPU_KEYS},
                **_server_cpu(runs),
            }
        ingest, bare = row["ingest"], row["bare"]
        row["ratio_ingest_over_bare"] = {
            "p50": _ratio(ingest["latency_ms"]["p50"], bare["latency_ms"]["p50"]),
            "p99": _ratio(ingest["latency_ms"]["p99"], bare["latency_ms"]["p99"]),
            "achieved_rps": _ratio(ingest["achieved_rps"], bare["achieved_rps"]),
            "server_cpu_ms_per_ok": _ratio(
                ingest["server_cpu_ms_per_ok"], bare["server_cpu_ms_per_ok"]
            ),
        }
        open_rows.append(row)
    closed: dict[str, Any] = {}
    for name in ("bare", "ingest"):
        runs = [r for r in raw["closed_loop"] if r["target"] == name]
        closed[name] = {
            "achieved_rps": _median([r["achieved_rps"] for r in runs]),
            "latency_ms": {k: _median([r["latency_ms"][k] for r in runs]) for k in ("p50", "p99")},
            "errors_total": _sum_errors(runs),
            "cpu_pct": {k: _median([r["cpu"].get(k) for r in runs]) for k in CPU_KEYS},
            **_server_cpu(runs),
        }
    ingest, bare = closed["ingest"], closed["bare"]
    closed["ratio_ingest_over_bare"] = {
        "achieved_rps": _ratio(ingest["achieved_rps"], bare["achieved_rps"]),
        "server_cpu_ms_per_ok": _ratio(
            ingest["server_cpu_ms_per_ok"], bare["server_cpu_ms_per_ok"]
        ),
    }
    return {"open_loop": open_rows, "closed_loop": closed}


# --------------------------------------------------------------------------- reporting


def _fmt_errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in errors.items()) or "0"


def _cpu_cells(cpu: dict[str, float | None]) -> list[str]:
    return [_fmt(cpu[k], 0) for k in CPU_KEYS]


CPU_HEADER = [
    "loadgen",
    "server",
    "kafka",
    "postgres",
    "other",
    "machine busy",
]


def _cpu_per_ok(t: dict[str, Any]) -> float | None:
    return t.get("server_cpu_ms_per_ok")  # absent in results recorded before it was measured


def _met(ok: bool | None) -> str:
    return "-" if ok is None else "yes" if ok else "no"


def targets(summary: dict[str, Any], params: dict[str, Any]) -> list[list[str]]:
    """Rows "target | measured | met?" for ingest, from the medians over repeats.

    The CPU target holds when every run (each offered rate and the closed loop) meets it; the
    cell names the runs that do not. A p99 row appears only when its rate was run. The
    closed-loop throughput ratio has no target."""
    runs = [
        (f"{row['offered_rps']:g}/s", _cpu_per_ok(row["ingest"])) for row in summary["open_loop"]
    ]
    runs.append((f"closed {params['concurrency']}", _cpu_per_ok(summary["closed_loop"]["ingest"])))
    failing = [label for label, v in runs if v is not None and v > CPU_MS_PER_OK_TARGET]
    if failing:
        cpu_met = "no: " + ", ".join(failing)
    else:
        cpu_met = _met(None if any(v is None for _, v in runs) else True)
    measured_cpu = (
        "; ".join(f"{label} {_fmt(v, 2)}" for label, v in runs) + " ms"
        if any(v is not None for _, v in runs)
        else "-"
    )
    rows = [
        [
            f"ingest server CPU per accepted request <= {CPU_MS_PER_OK_TARGET:g} ms (every run)",
            measured_cpu,
            cpu_met,
        ]
    ]
    by_rate = {row["offered_rps"]: row["ingest"] for row in summary["open_loop"]}
    for rate, limit in P99_TARGETS_MS.items():
        if rate not in by_rate:
            continue
        p99 = by_rate[rate]["latency_ms"]["p99"]
        errors = by_rate[rate]["errors_total"]
        measured = f"{_fmt(p99, 2)} ms" + (f" (errors {_fmt_errors(errors)})" if errors else "")
        rows.append(
            [
                f"ingest p99 <= {limit:g} ms at {rate:g} req/s",
                measured,
                _met(None if p99 is None else p99 <= limit),
            ]
        )
    closed = summary["closed_loop"]
    bare_gen = closed["bare"]["cpu_pct"]["loadgen_pct"]
    rows.append(
        [
            f"closed-loop throughput ingest / bare ({params['concurrency']} clients)",
            f"{_fmt(closed['ratio_ingest_over_bare']['achieved_rps'], 2)} "
            f"({_fmt(closed['ingest']['achieved_rps'])} / {_fmt(closed['bare']['achieved_rps'])} "
            "2xx/s)",
            "no target: informative, bounded by the load generator sharing the machine "
            f"(loadgen {_fmt(bare_gen, 0)} % of a core in bare's run)",
        ]
    )
    return rows


def tables(
    summary: dict[str, Any], params: dict[str, Any]
) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for each table; rendered as Markdown and with rich."""
    reps = params["repeats"]
    open_rows, cpu_rows = [], []
    for row in summary["open_loop"]:
        for name in ("bare", "ingest"):
            t = row[name]
            lat = t["latency_ms"]
            open_rows.append(
                [
                    name,
                    _fmt(row["offered_rps"], 0),
                    _fmt(t["achieved_rps"]),
                    _fmt(_cpu_per_ok(t), 2),
                    _fmt_errors(t["errors_total"]),
                    _fmt(lat["p50"], 2),
                    _fmt(lat["p90"], 2),
                    _fmt(lat["p99"], 2),
                    _fmt(lat["max"], 2),
                    _fmt(t["send_lag_p99_ms"], 2),
                ]
            )
            cpu_rows.append([name, f"open {row['offered_rps']:g}/s", *_cpu_cells(t["cpu_pct"])])
    ratio_rows = [
        [
            _fmt(row["offered_rps"], 0),
            _fmt(row["ratio_ingest_over_bare"]["achieved_rps"], 2),
            _fmt(row["ratio_ingest_over_bare"].get("server_cpu_ms_per_ok"), 2),
            _fmt(row["ratio_ingest_over_bare"]["p50"], 2),
            _fmt(row["ratio_ingest_over_bare"]["p99"], 2),
        ]
        for row in summary["open_loop"]
    ]
    closed = summary["closed_loop"]
    closed_rows = []
    for name in ("bare", "ingest"):
        c = closed[name]
        closed_rows.append(
            [
                name,
                str(params["concurrency"]),
                _fmt(c["achieved_rps"]),
                _fmt(_cpu_per_ok(c), 2),
                _fmt_errors(c["errors_total"]),
                _fmt(c["latency_ms"]["p50"], 2),
                _fmt(c["latency_ms"]["p99"], 2),
            ]
        )
        cpu_rows.append([name, f"closed {params['concurrency']}", *_cpu_cells(c["cpu_pct"])])
    closed_ratio = closed["ratio_ingest_over_bare"]
    closed_rows.append(
        [
            "ingest / bare",
            "",
            _fmt(closed_ratio["achieved_rps"], 2),
            _fmt(closed_ratio.get("server_cpu_ms_per_ok"), 2),
            "",
            "",
            "",
        ]
    )
    return [
        (
            f"Targets (ingest; medians of {reps} repeat(s))",
            ["target", "measured", "met?"],
            targets(summary, params),
        ),
        (
            f"Open loop: constant offered rate (medians of {reps} repeat(s); "
            "errors summed over repeats)",
            [
                "target",
                "offered req/s",
                "achieved 2xx/s",
                "server CPU ms/2xx",
                "errors",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "max ms",
                "send lag p99 ms",
            ],
            open_rows,
        ),
        (
            "Open loop: ingest / bare",
            ["offered req/s", "throughput ratio", "server CPU/2xx ratio", "p50 ratio", "p99 ratio"],
            ratio_rows,
        ),
        (
            f"Max throughput: closed loop, {params['concurrency']} concurrent clients, "
            f"{params['duration']:g} s (medians of {reps} repeat(s))",
            ["target", "clients", "2xx/s", "server CPU ms/2xx", "errors", "p50 ms", "p99 ms"],
            closed_rows,
        ),
        (
            "CPU during the runs (% of one core over the whole run, medians; 'machine busy' "
            "is % of all cores)",
            ["target", "run", *CPU_HEADER],
            cpu_rows,
        ),
    ]


def markdown(result: dict[str, Any]) -> str:
    m, p = result["machine"], result["parameters"]
    idle = p["idle_before_start"]
    quiet = "quiet" if idle["quiet"] else "NOT quiet: other jobs were running"
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    rates = ", ".join(f"{r:g}" for r in p["rates"])
    lines = [
        "# Ingest benchmark: `POST /v1/leads` vs a bare FastAPI endpoint",
        "",
        f"- date: {m['date']} (whole run {result['elapsed_s']:.0f} s)",
        f"- machine: {m['nproc']} CPU(s), {m['cpu_model']}, {m['memory_mb']} MB RAM, "
        f"Linux {m['kernel']}; load average at start {m['loadavg_at_start']}",
        f"- Python {m['python']}, Kafka {m['kafka_version']}; {packages}",
        f"- command: `{p['command']}`",
        f"- machine before start: {idle['busy_pct']:g} % busy over 3 s after waiting "
        f"{idle['waited_s']:g} s ({quiet})",
        f"- parameters: offered rates {rates} req/s; {p['warmup']:g} s warm-up (discarded) + "
        f"{p['duration']:g} s measured per run; {p['repeats']} repeat(s) of everything, "
        f"medians reported; closed loop {p['concurrency']} clients; request timeout "
        f"{p['timeout']:g} s; open-loop connection pool {p['pool']}; client event loop "
        f"{p['client_loop']}",
        "",
        f"> **Caveat: this machine has {m['nproc']} cores and everything shares them.** The load "
        "generator (one Python process: asyncio + httpx, roughly 1 ms of CPU per request here) "
        "competes for CPU with the server under test, and for ingest also with Kafka (a JVM) and "
        "PostgreSQL (fsync on), all on the same host. Absolute figures are therefore pessimistic "
        "and the generator itself can be a bottleneck, above all in the closed-loop probe of the "
        "bare app: see the CPU table ('loadgen' = 100 % is one full core) and 'send lag' (how "
        "late requests left compared with their schedule). 'other' is CPU used by anything else "
        "on the machine (other jobs, the kernel): when it is high, the run was disturbed. Read "
        "the ingest/bare ratios on the same machine, not the absolute numbers as the capacity "
        "of a production deployment.",
        "",
    ]
    for title, header, rows in tables(result["summary"], p):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines.append("")
    disturbed = [
        f"repeat {run['repeat']} {run['target']} "
        + (
            f"open {run['offered_rps']:g}/s"
            if "offered_rps" in run
            else f"closed {run['concurrency']}"
        )
        + f" (other {run['cpu']['other_pct']:g} %, {run['achieved_rps']:g} 2xx/s)"
        for run in [*result["runs"]["open_loop"], *result["runs"]["closed_loop"]]
        if (run["cpu"].get("other_pct") or 0) > DISTURBED_OTHER_PCT
    ]
    bare_gen = result["summary"]["closed_loop"]["bare"]["cpu_pct"]["loadgen_pct"]
    if bare_gen is not None and bare_gen >= 80:
        lines += [
            f"The closed-loop probe of the bare app was limited by the load generator (loadgen "
            f"{bare_gen:g} % of a core): bare's real maximum is higher, so the closed-loop "
            "ingest/bare throughput ratio is an upper bound.",
            "",
        ]
    lines += [
        f"Runs disturbed by other work on the machine ('other' CPU over {DISTURBED_OTHER_PCT} % "
        "of a core; medians limit their weight): " + ("; ".join(disturbed) or "none") + ".",
        "",
    ]
    lines += [
        "## Method",
        "",
        "- Each server is one uvicorn worker in its own process, started the same way "
        "(`python -m uvicorn <app> --factory --host 127.0.0.1 --port <free> --no-access-log "
        "--timeout-graceful-shutdown 10`; uvloop + httptools). The load generator is a separate "
        "process. Loopback addresses only.",
        "- ingest runs against its own throw-away stack in a temp dir on free ports: embedded "
        "PostgreSQL with fsync on, a KRaft Kafka broker, migrations, topics; log level WARNING. "
        "Each accepted lead costs: signature check, validation, idempotency claim in PostgreSQL "
        "(commit), publish to Kafka waiting for acks=all, response stored in PostgreSQL (commit).",
        "- The bare app (`tests/bench/bare_app.py`) parses the JSON body and answers 202 with a "
        "small JSON. It gets the same requests as ingest.",
        "- Every request is a distinct lead (unique email) with a fresh `webhook-id`, signed with "
        "Standard Webhooks headers for source `website`.",
        "- Open loop: request *i* is scheduled at t0 + i/rate and sent then, whatever happened to "
        "earlier ones; latency = completion time - *scheduled* time, so queueing in the client, "
        "the kernel and the server all count (no coordinated omission). Percentiles cover every "
        "request scheduled after the warm-up, whatever its outcome (a timeout counts at its "
        "elapsed time). Achieved throughput = 2xx responses completed inside the measured window "
        "/ window length. 'send lag' = how late the generator actually sent (generator health).",
        "- Closed loop (max throughput): N clients, each with one keep-alive connection, send "
        "back to back; 2xx/s = 2xx completed inside the measured window / window length.",
        "- Server CPU per accepted request ('server CPU ms/2xx') = the server process's CPU "
        "seconds (utime + stime from `/proc/<pid>/stat`, 10 ms ticks) between the opening and "
        "the closing of the measured window / 2xx responses completed inside that window, i.e. "
        "window CPU in % of one core x 10 / achieved 2xx/s; per repeat, then the median. It is "
        "the server process alone (ingest's Kafka and PostgreSQL are not in it) and includes "
        "work on requests that fail or time out, so above capacity it rises. The CPU table "
        "instead covers each whole run (connection set-up, warm-up, window, and the drain "
        "after the last send, up to the request timeout when overloaded).",
        f"- Targets: ingest server CPU per accepted request <= {CPU_MS_PER_OK_TARGET:g} ms in "
        "every run (each offered rate and the closed loop), and p99 latency (all requests, "
        "as in the open-loop table) "
        + ", ".join(f"<= {ms:g} ms at {rate:g} req/s" for rate, ms in P99_TARGETS_MS.items())
        + " when that rate is run; each on the medians over repeats.",
        "- Connections: httpx AsyncClient, one single-connection client per pooled connection "
        f"({p['pool']} for the open loop, N for the closed loop) handed out LIFO. One shared "
        "AsyncClient pool costs O(pool size) CPU per request in httpcore, which made the "
        "generator the bottleneck at ~150 req/s on this machine.",
        "- Runs alternate bare/ingest (order flipped every repeat) with a settle pause between "
        "runs; medians over repeats of each figure, errors summed over repeats. CPU figures come "
        "from /proc (postgres = postmaster + backends). Raw per-repeat figures are in "
        "`ingest.json`.",
        "",
    ]
    return "\n".join(lines)


def print_tables(result: dict[str, Any]) -> None:
    for title, header, rows in tables(result["summary"], result["parameters"]):
        table = Table(title=title, title_justify="left")
        for i, col in enumerate(header):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)


# --------------------------------------------------------------------------- main


def _parse_rates(value: str) -> list[float]:
    try:
        rates = [float(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter("comma-separated numbers, e.g. 100,300,400") from None
    if not rates or any(not 0 < r <= MAX_RATE for r in rates):
        raise typer.BadParameter(f"each rate must be in (0, {MAX_RATE}]")
    return rates


async def run_all(
    targets: list[Target], stack: Stack, params: dict[str, Any], secret: str
) -> dict[str, Any]:
    rates: list[float] = params["rates"]
    repeats, warmup, duration = params["repeats"], params["warmup"], params["duration"]
    per_run = warmup + duration
    raw: dict[str, Any] = {"open_loop": [], "closed_loop": []}
    n_runs = repeats * (len(rates) + 1) * len(targets)
    factory = RequestFactory(secret)

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        overall = progress.add_task("all runs", total=n_runs)
        current = progress.add_task("", total=per_run)
        for rep in range(repeats):
            order = (
                targets if rep % 2 == 0 else list(reversed(targets))
            )  # alternate to spread drift
            plan: list[tuple[str, float | None, Target]] = [
                ("open", rate, t) for rate in rates for t in order
            ] + [("closed", None, t) for t in order]
            for kind, rate, target in plan:
                label = f"rep {rep + 1}/{repeats} {target.name:6} " + (
                    f"open {rate:g} req/s"
                    if kind == "open"
                    else f"closed {params['concurrency']} clients"
                )
                progress.reset(current, total=per_run, description=label)

                def tick(elapsed: float, _task: Any = current) -> None:
                    progress.update(_task, completed=min(per_run, max(0.0, elapsed)))

                await settle(target.base)
                is_ingest = target.name == "ingest"
                with CpuMeter(
                    target.pid,
                    kafka=stack.kafka.pid() if is_ingest else None,
                    postmaster=_postmaster_pid(stack) if is_ingest else None,
                ) as cpu:
                    if kind == "open":
                        assert rate is not None
                        run = await open_loop(
                            target.url,
                            rate=rate,
                            warmup=warmup,
                            duration=duration,
                            request_timeout=params["timeout"],
                            pool=params["pool"],
                            factory=factory,
                            tick=tick,
                            server_pid=target.pid,
                        )
                    else:
                        run = await closed_loop(
                            target.url,
                            concurrency=params["concurrency"],
                            warmup=warmup,
                            duration=duration,
                            request_timeout=params["timeout"],
                            factory=factory,
                            tick=tick,
                            server_pid=target.pid,
                        )
                run.update(target=target.name, repeat=rep + 1, cpu=cpu.result)
                raw["open_loop" if kind == "open" else "closed_loop"].append(run)
                lat = run["latency_ms"]
                progress.console.log(
                    f"{label}: {run['achieved_rps']:.1f} 2xx/s, p50 {_fmt(lat['p50'], 2)} ms, "
                    f"p99 {_fmt(lat['p99'], 2)} ms, errors {_fmt_errors(run['errors'])}, "
                    f"server CPU {_fmt(run['server_cpu_ms_per_ok'], 2)} ms/2xx, "
                    f"loadgen CPU {cpu.result['loadgen_pct']} %, "
                    f"server CPU {cpu.result['server_pct']} %, "
                    f"other CPU {cpu.result['other_pct']} %"
                )
                progress.advance(overall)
                if target.proc.proc is None or target.proc.proc.poll() is not None:
                    raise RuntimeError(
                        f"{target.name} exited during the benchmark; see {target.proc.log}"
                    )
        progress.update(current, visible=False)
    return raw


@app.command()
def main(
    rates: Annotated[
        str, typer.Option(help="offered rates, req/s, comma separated")
    ] = "100,300,400",
    duration: Annotated[float, typer.Option(help="measured seconds per run")] = 10.0,
    warmup: Annotated[float, typer.Option(help="discarded seconds before each measurement")] = 2.0,
    repeats: Annotated[
        int, typer.Option(help="repeats of every measurement (medians reported)")
    ] = 3,
    concurrency: Annotated[
        int, typer.Option(help="clients in the closed-loop max-throughput probe")
    ] = 32,
    timeout: Annotated[float, typer.Option(help="per-request timeout, s")] = 10.0,
    pool: Annotated[int, typer.Option(help="open-loop connection pool size (max in flight)")] = 128,
    out: Annotated[Path, typer.Option(help="results directory")] = RESULTS_DIR,
    wait_idle: Annotated[
        float,
        typer.Option(
            help="before starting, wait up to this many seconds for the machine to be quiet "
            "(other processes' CPU under 25 % of all cores)"
        ),
    ] = 300.0,
    render_only: Annotated[
        bool,
        typer.Option(help="only re-render ingest.md (and the tables) from an existing ingest.json"),
    ] = False,
    keep: Annotated[
        bool, typer.Option(help="keep the temp dir (logs, data) for inspection")
    ] = False,
) -> None:
    """Benchmark ingest's POST /v1/leads against a bare FastAPI endpoint (open + closed loop)."""
    if render_only:
        result = json.loads((out / "ingest.json").read_text())
        (out / "ingest.md").write_text(markdown(result))
        print_tables(result)
        console.print(f"re-rendered {out / 'ingest.md'} from {out / 'ingest.json'}")
        return
    rate_list = _parse_rates(rates)
    checks = [
        (0 < duration <= MAX_DURATION, f"--duration must be in (0, {MAX_DURATION:g}]"),
        (0 <= warmup <= MAX_WARMUP, f"--warmup must be in [0, {MAX_WARMUP:g}]"),
        (1 <= repeats <= MAX_REPEATS, f"--repeats must be in [1, {MAX_REPEATS}]"),
        (1 <= concurrency <= MAX_CONCURRENCY, f"--concurrency must be in [1, {MAX_CONCURRENCY}]"),
        (0 < timeout <= 60, "--timeout must be in (0, 60]"),
        (1 <= pool <= MAX_POOL, f"--pool must be in [1, {MAX_POOL}]"),
        (max(rate_list) * (warmup + duration) <= MAX_REQUESTS_PER_RUN, "too many requests per run"),
    ]
    for ok, message in checks:
        if not ok:
            raise typer.BadParameter(message)

    loop_factory, loop_name = _loop_factory()
    params: dict[str, Any] = {
        "command": " ".join(["python -m tests.bench.run", *sys.argv[1:]]),
        "rates": rate_list,
        "duration": duration,
        "warmup": warmup,
        "repeats": repeats,
        "concurrency": concurrency,
        "timeout": timeout,
        "pool": pool,
        "client_loop": loop_name,
        "endpoint": LEADS_PATH,
        "source": SOURCE,
        "uvicorn_workers": 1,
        "postgres_durable": True,
    }
    secret = (
        os.environ.get("LEADFLOW_SOURCE_WEBSITE_SECRETS", DEV_WEBHOOK_SECRET)
        .replace(",", " ")
        .split()[0]
    )

    def on_sigterm(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    params["idle_before_start"] = wait_for_quiet(min(wait_idle, 1800.0))
    machine = machine_info()
    started = time.perf_counter()
    try:
        with bench_environment(keep) as (stack, targets, _tmp):
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                raw = runner.run(run_all(targets, stack, params, secret))
    except KeyboardInterrupt:
        console.print("[red]interrupted: stack torn down, no results written[/red]")
        raise typer.Exit(130) from None

    result = {
        "machine": machine,
        "parameters": params,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "summary": summarize(raw, rate_list),
        "runs": raw,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "ingest.md").write_text(markdown(result))
    print_tables(result)
    console.print(
        f"results: {out / 'ingest.json'}, {out / 'ingest.md'} ({result['elapsed_s']:.0f} s)"
    )


if __name__ == "__main__":
    app()
