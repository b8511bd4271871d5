"""``leadflow leads export``: every lead a search matches, as CSV, from the router's admin API
(``GET /v1/admin/leads`` with ``Accept: text/csv``), with a progress bar on stderr."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console

leads_app = typer.Typer(help="Leads: search and export from the router.", no_args_is_help=True)
err = Console(stderr=True)
ROUTER_URL = os.environ.get("LEADFLOW_ROUTER_URL", "http://127.0.0.1:8001")

Many = Annotated[list[str] | None, typer.Option(help="repeatable: any of the values")]
Instant = Annotated[
    str | None, typer.Option(help="ISO 8601 with offset, e.g. 2026-11-01T00:00:00Z")
]


class RowCounter:
    """Counts CSV records in a byte stream as it passes (a newline inside quotes is part of
    a cell, not the end of a record)."""

    def __init__(self) -> None:
        self.in_quotes = False
        self.records = 0

    def feed(self, chunk: bytes) -> int:
        for byte in chunk:
            if byte == 0x22:  # "
                self.in_quotes = not self.in_quotes
            elif byte == 0x0A and not self.in_quotes:
                self.records += 1
        return self.records


def problem_sentence(status: int, body: bytes) -> str:
    """What the router said about a refused request, in one line."""
    import json

    try:
        problem: Any = json.loads(body)
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        text = body.decode(errors="replace").strip()[:200]
        return f"the router answered {status}{': ' + text if text else ''}"
    detail = str(problem.get("detail") or problem.get("title") or "")
    fields = [
        f"{e.get('field')}: {e.get('message')}"
        for e in problem.get("errors") or []
        if isinstance(e, dict)
    ]
    if status == 401:
        return f"the router refused the token (401: {detail}); pass --token or set LEADFLOW_TOKEN"
    if status == 403:
        return f"the token may not read leads (403: {detail})"
    return f"the router answered {status}: " + ("; ".join(fields) if fields else detail)


@leads_app.command("export")
def export(
    status: Many = None,
    stage: Many = None,
    owner: Many = None,
    team: Many = None,
    queue: Many = None,
    temperature: Many = None,
    source: Many = None,
    channel: Many = None,
    campaign: Many = None,
    queued: Annotated[
        bool | None, typer.Option("--queued/--not-queued", help="in the fallback queue or not")
    ] = None,
    received_from: Instant = None,
    received_to: Instant = None,
    updated_from: Instant = None,
    updated_to: Instant = None,
    q: Annotated[str | None, typer.Option(help="prefix of name, email or company")] = None,
    out: Annotated[
        Path | None, typer.Option(help="write the CSV here (default: standard output)")
    ] = None,
    url: Annotated[str, typer.Option(help="the router's admin API")] = ROUTER_URL,
    token: Annotated[
        str,
        typer.Option(
            envvar=["LEADFLOW_TOKEN", "LEADFLOW_ADMIN_TOKEN"], help="a token with the read scope"
        ),
    ] = "",
    progress: Annotated[bool, typer.Option(help="show the progress bar on stderr")] = True,
) -> None:
    """Export every lead the filters match as CSV (to standard output or --out), following
    the rows received with a progress bar (its total: the answer's X-Total-Count). A failed
    export leaves no --out file (an existing one stays as it was)."""
    import httpx
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    params: list[tuple[str, str | int | float | bool | None]] = []
    for name, values in (
        ("status", status), ("stage", stage), ("owner", owner), ("team", team),
        ("queue", queue), ("temperature", temperature), ("source", source),
        ("channel", channel), ("campaign", campaign),
    ):  # fmt: skip
        params.extend((name, v) for v in values or [])
    for name, value in (
        ("received_from", received_from), ("received_to", received_to),
        ("updated_from", updated_from), ("updated_to", updated_to), ("q", q),
    ):  # fmt: skip
        if value is not None:
            params.append((name, value))
    if queued is not None:
        params.append(("queued", "true" if queued else "false"))
    headers = {"accept": "text/csv", "authorization": f"Bearer {token}"}
    # --out: written to a temporary file beside it, renamed over it only once the export is
    # whole, so a failed export leaves no partial file (and an older one as it was)
    partial: Path | None = None
    if out is not None:
        fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
        partial = Path(name)
        target: IO[bytes] = os.fdopen(fd, "wb")
    else:
        target = sys.stdout.buffer
    counter = RowCounter()
    finished = False
    try:
        with httpx.stream(
            "GET",
            f"{url.rstrip('/')}/v1/admin/leads",
            params=params,
            headers=headers,
            timeout=httpx.Timeout(30, read=300),
        ) as response:
            if not response.is_success:
                err.print(f"[red]{problem_sentence(response.status_code, response.read())}[/red]")
                raise typer.Exit(1)
            total_header = response.headers.get("x-total-count")
            total = int(total_header) if total_header and total_header.isdigit() else None
            with Progress(
                TextColumn("exporting leads"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                disable=not progress,
            ) as bar:
                task = bar.add_task("export", total=total)
                for chunk in response.iter_bytes():
                    target.write(chunk)
                    # the header row is not a lead
                    bar.update(task, completed=max(counter.feed(chunk) - 1, 0))
            if counter.in_quotes or (counter.records == 0):
                err.print("[red]the export was cut short: the file is incomplete[/red]")
                raise typer.Exit(1)
        finished = True
    except httpx.HTTPError as exc:
        err.print(f"[red]cannot export from the router at {url}: {type(exc).__name__}: {exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        target.flush()
        if partial is not None:
            target.close()
            if finished:
                os.replace(partial, out)  # type: ignore[arg-type]
            else:
                partial.unlink(missing_ok=True)
    err.print(f"exported {counter.records - 1} leads" + (f" to {out}" if out else ""))
