"""What the benchmarks share: the machine they ran on, CPU metering from /proc, waiting for a
quiet machine (before the start and before each measurement), an own throw-away stack that is
always torn down, medians and percentiles, and tables rendered as Markdown and with rich."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import ipaddress
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.stack.common import REPO_ROOT, free_port
from shared.stack.kafka import kafka_version
from shared.stack.stack import ServiceProcess, Stack

console = Console()

PACKAGES = (
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
POSTGRES_SETTINGS = (
    "server_version",
    "shared_buffers",
    "fsync",
    "synchronous_commit",
    "work_mem",
    "max_wal_size",
    "plan_cache_mode",
)
QUIET_BEFORE_START = 0.25  # share of all cores busy: quiet enough to start
QUIET_OTHER_PCT = 30.0  # % of one core used by other work: quiet enough to measure


# --------------------------------------------------------------------------- numbers


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


def median(values: list[float | None], digits: int = 2) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), digits) if present else None


def ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    return round(a / b, digits) if a is not None and b else None


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


# --------------------------------------------------------------------------- the machine


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_mb() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def machine_info(packages: tuple[str, ...] = PACKAGES) -> dict[str, Any]:
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
        "packages": {d: _version(d) for d in packages},
    }


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"{m['nproc']} CPU(s), {m['cpu_model']}, {m['memory_mb']} MB RAM, Linux {m['kernel']}; "
        f"load average at start {m['loadavg_at_start']}"
    )


def code_version(*paths: str) -> dict[str, Any]:
    """The commit checked out, whether ``paths`` differ from it, and a hash of their Python
    files as they are now: a service started later in the run must run this same code."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
        except OSError:
            return ""
        return out.stdout.strip()

    digest = hashlib.sha256()
    for path in paths:
        for file in sorted((REPO_ROOT / path).rglob("*.py")):
            digest.update(file.relative_to(REPO_ROOT).as_posix().encode())
            digest.update(file.read_bytes())
    return {
        "commit": git("rev-parse", "--short=12", "HEAD") or None,
        "paths": list(paths),
        "dirty": bool(git("status", "--porcelain", "--", *paths)),
        "fingerprint": digest.hexdigest()[:16],
    }


async def postgres_settings(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        return {
            name: (await conn.execute(text(f"SHOW {name}"))).scalar() for name in POSTGRES_SETTINGS
        }


def loop_factory() -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    try:
        import uvloop
    except ImportError:
        return None, "asyncio"
    return uvloop.new_event_loop, "uvloop"


def assert_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing to send load to non-loopback address {host}")


# --------------------------------------------------------------------------- CPU


def proc_cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of one process, from /proc."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def _tree_cpu(pid: int | None) -> dict[int, float]:
    """CPU seconds of a process and its direct children (PostgreSQL's backends)."""
    if pid is None:
        return {}
    out = {}
    for p in [pid, *_children(pid)]:
        value = proc_cpu_seconds(p)
        if value is not None:
            out[p] = value
    return out


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return sum(parts[:8]) - idle, sum(parts[:8])


def postmaster_pid(stack: Stack) -> int | None:
    try:
        return int((stack.postgres.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


class CpuMeter:
    """CPU use over a block, in % of one core: each named process (``<name>_pct``),
    PostgreSQL (postmaster + backends, ``postgres_pct``), this process (``loadgen_pct``) and
    everything else on the machine (``other_pct``: other jobs, the kernel); and the machine's
    busy share of all its cores (``machine_busy_pct``). A name whose pid is None reads None."""

    def __init__(self, procs: dict[str, int | None], postmaster: int | None) -> None:
        self.procs = procs
        self.postmaster = postmaster
        self.result: dict[str, float | None] = {}

    def __enter__(self) -> CpuMeter:
        self.wall0 = time.perf_counter()
        self.self0 = time.process_time()
        self.procs0 = {name: proc_cpu_seconds(pid) for name, pid in self.procs.items()}
        self.pg0 = _tree_cpu(self.postmaster)
        self.machine0 = _machine_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = max(1e-6, time.perf_counter() - self.wall0)
        busy1, total1 = _machine_cpu()
        busy0, total0 = self.machine0
        busy_share = (busy1 - busy0) / max(1, total1 - total0)
        result: dict[str, float | None] = {
            "loadgen_pct": round(100 * (time.process_time() - self.self0) / wall, 1),
            "machine_busy_pct": round(100 * busy_share, 1),
        }
        for name, pid in self.procs.items():
            before, after = self.procs0[name], proc_cpu_seconds(pid)
            result[f"{name}_pct"] = (
                None if before is None or after is None else round(100 * (after - before) / wall, 1)
            )
        if self.postmaster is not None:
            pg1 = _tree_cpu(self.postmaster)
            result["postgres_pct"] = round(
                100 * sum(v - self.pg0.get(p, 0.0) for p, v in pg1.items()) / wall, 1
            )
        else:
            result["postgres_pct"] = None
        ours = sum(v or 0.0 for k, v in result.items() if k != "machine_busy_pct")
        ncpu = len(os.sched_getaffinity(0))
        result["other_pct"] = round(max(0.0, 100 * busy_share * ncpu - ours), 1)
        self.result = result


def _busy_share(seconds: float) -> float:
    busy0, total0 = _machine_cpu()
    time.sleep(seconds)
    busy1, total1 = _machine_cpu()
    return (busy1 - busy0) / max(1, total1 - total0)


def wait_for_quiet(limit: float, threshold: float = QUIET_BEFORE_START) -> dict[str, Any]:
    """Before anything starts: wait (bounded) until the machine's busy share of all cores is
    under ``threshold`` over 3 s. Other jobs on a 2-core box distort everything."""
    started = time.perf_counter()
    with console.status("checking that the machine is quiet") as status:
        while True:
            share = _busy_share(3.0)
            waited = time.perf_counter() - started
            if share <= threshold or waited >= limit:
                break
            status.update(
                f"machine {100 * share:.0f} % busy with other work; waiting for it to calm down "
                f"({waited:.0f}/{limit:.0f} s)"
            )
    quiet = share <= threshold
    if not quiet:
        console.log(
            f"[yellow]machine still {100 * share:.0f} % busy after {waited:.0f} s: "
            "figures will be disturbed (see 'other' CPU)[/yellow]"
        )
    return {"busy_pct": round(100 * share, 1), "waited_s": round(waited, 1), "quiet": quiet}


async def wait_for_quiet_run(
    procs: dict[str, int | None],
    postmaster: int | None,
    limit: float,
    threshold_pct: float = QUIET_OTHER_PCT,
) -> dict[str, Any]:
    """Before one measurement: wait (bounded by ``limit``) until work other than ours (the
    named processes, PostgreSQL, this process) uses under ``threshold_pct`` % of one core
    over 2 s."""
    started = time.perf_counter()
    while True:
        with CpuMeter(procs, postmaster) as meter:
            await asyncio.sleep(2.0)
        other = meter.result["other_pct"] or 0.0
        waited = time.perf_counter() - started
        if other <= threshold_pct or waited >= limit:
            break
        console.log(
            f"[yellow]other work on the machine uses {other:.0f} % of a core; waiting "
            f"({waited:.0f}/{limit:.0f} s)[/yellow]"
        )
    return {
        "other_pct": round(other, 1),
        "waited_s": round(waited, 1),
        "quiet": other <= threshold_pct,
    }


# --------------------------------------------------------------------------- the stack


@contextlib.contextmanager
def bench_stack(name: str, keep: bool) -> Iterator[tuple[Stack, Path, list[ServiceProcess]]]:
    """Own stack (embedded PostgreSQL with fsync on, KRaft Kafka, migrations, topics) in a
    temp dir on free loopback ports. Always torn down, with every service process registered
    in the yielded list, also on error and Ctrl-C."""
    tmp = Path(tempfile.mkdtemp(prefix=f"leadflow-bench-{name}-"))
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


# --------------------------------------------------------------------------- tables

TableSpec = tuple[str, list[str], list[list[str]]]


def markdown_tables(tables: list[TableSpec]) -> list[str]:
    lines: list[str] = []
    for title, header, rows in tables:
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines.append("")
    return lines


def print_tables(tables: list[TableSpec]) -> None:
    for title, header, rows in tables:
        table = Table(title=title, title_justify="left")
        for i, col in enumerate(header):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
