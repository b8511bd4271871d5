"""The ``leadflow`` command line: run the stack, import trade-show files, send demo leads."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shared.dlq_cli import dlq_app
from shared.settings import DEV_ADMIN_TOKEN, DEV_WEBHOOK_SECRET

app = typer.Typer(
    help="leadflow: route every lead to the right rep within the hour.", no_args_is_help=True
)
stack_app = typer.Typer(
    help="The local stack: embedded PostgreSQL and a KRaft Kafka broker.", no_args_is_help=True
)
app.add_typer(stack_app, name="stack")
app.add_typer(dlq_app, name="dlq")
console = Console(stderr=True)

INGEST_URL = os.environ.get("LEADFLOW_INGEST_URL", "http://127.0.0.1:8000")


def _stack():  # type: ignore[no-untyped-def]
    from shared.stack.stack import Stack

    return Stack()


def _up(stack) -> None:  # type: ignore[no-untyped-def]
    with console.status("starting the stack") as status:
        stack.up(progress=lambda msg: status.update(f"{msg} ..."))


@stack_app.command("up")
def stack_up() -> None:
    """Start PostgreSQL and Kafka in the background, migrate, create topics."""
    stack = _stack()
    _up(stack)
    _print_status(stack)


@stack_app.command("down")
def stack_down() -> None:
    """Stop Kafka and PostgreSQL (data is kept in the state folder)."""
    stack = _stack()
    with console.status("stopping"):
        stack.down()
    _print_status(stack)


@stack_app.command("status")
def stack_status() -> None:
    """Show what runs and where."""
    _print_status(_stack())


@stack_app.command("fetch-kafka")
def fetch_kafka() -> None:
    """Download the pinned Kafka broker jars with Maven (cached after the first time)."""
    from shared.stack.kafka import LIBS_DIR, fetch_jars, kafka_version

    with console.status(f"fetching Apache Kafka {kafka_version()} from Maven Central"):
        fetch_jars()
    console.print(f"Kafka {kafka_version()} jars in {LIBS_DIR}")


def _print_status(stack) -> None:  # type: ignore[no-untyped-def]
    table = Table(title=f"leadflow stack ({stack.root})")
    table.add_column("component")
    table.add_column("state and address")
    for name, line in stack.status().items():
        table.add_row(name, line)
    console.print(table)


@app.command()
def run() -> None:
    """Start everything (stack and services) in the foreground; Ctrl-C stops it all."""
    from shared.stack.stack import SERVICES, ServiceProcess

    stack = _stack()
    _up(stack)
    env = stack.env()
    logs = stack.root / "logs"
    logs.mkdir(exist_ok=True)
    procs = [
        ServiceProcess(
            spec,
            env,
            port=int(env.get(f"LEADFLOW_{spec.name.upper()}_PORT", spec.port)),
            log=logs / f"{spec.name}.log",
        )
        for spec in SERVICES
    ]
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        with console.status("starting services") as status:
            for proc in procs:
                status.update(f"starting {proc.spec.name} ...")
                proc.start()
        table = Table(title="leadflow is running (Ctrl-C stops everything)")
        table.add_column("what")
        table.add_column("where")
        for proc in procs:
            table.add_row(
                proc.spec.name, f"{proc.url}  (docs {proc.url}/docs, metrics {proc.url}/metrics)"
            )
        table.add_row("kafka", stack.bootstrap)
        table.add_row("postgres", stack.database_url)
        table.add_row("logs", str(logs))
        console.print(table)
        console.print(
            f"dev webhook secret (source 'website'): {env.get('LEADFLOW_DEV_WEBHOOK_SECRET', DEV_WEBHOOK_SECRET)}",
            soft_wrap=True,  # never break a secret across lines
        )
        console.print(f"dev admin token: {env.get('LEADFLOW_DEV_ADMIN_TOKEN', DEV_ADMIN_TOKEN)}")
        console.print("try: leadflow send-lead --email ada@example.com")
        while not stopping:
            for proc in procs:
                if proc.proc is not None and proc.proc.poll() is not None:
                    console.print(
                        f"[red]{proc.spec.name} exited ({proc.proc.returncode}); see {proc.log}[/red]"
                    )
                    stopping = True
            time.sleep(0.5)
    finally:
        # Ctrl-C reaches the whole process group; ignore repeats while shutting down cleanly.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with console.status("stopping services, Kafka and PostgreSQL"):
            for proc in reversed(procs):
                proc.stop()
            stack.down()
        console.print("stopped")


@app.command()
def migrate() -> None:
    """Run every service's migrations against LEADFLOW_DATABASE_URL (or the local stack)."""
    from shared import db
    from shared.stack.stack import SERVICES

    url = os.environ.get("LEADFLOW_DATABASE_URL") or _stack().database_url
    for spec in SERVICES:
        if spec.migrations is not None:
            db.upgrade(spec.migrations, url, spec.schema)
            console.print(f"{spec.schema}: migrated")


@app.command("create-topics")
def create_topics(
    bootstrap: Annotated[
        str, typer.Option(envvar="LEADFLOW_KAFKA_BOOTSTRAP_SERVERS")
    ] = "127.0.0.1:9092",
    prefix: Annotated[str, typer.Option(envvar="LEADFLOW_TOPIC_PREFIX")] = "",
    replication_factor: int = 1,
) -> None:
    """Create leadflow's topics (and their DLQs) with their partition counts."""
    import asyncio

    from shared.kafka.topics import all_topics, ensure_topics

    created = asyncio.run(ensure_topics(bootstrap, all_topics(prefix), replication_factor))
    console.print(f"created: {', '.join(created) or 'nothing (all exist)'}")


@app.command()
def openapi(
    write: bool = typer.Option(False, help="write the checked-in OpenAPI documents"),
) -> None:
    """Print (or write) each service's OpenAPI document."""
    from shared.contracts import render_openapi

    for path, text in render_openapi().items():
        if write:
            path.write_text(text)
            console.print(f"wrote {path}")
        else:
            sys.stdout.write(text)


@app.command()
def schemas(write: bool = typer.Option(False, help="write the checked-in JSON Schemas")) -> None:
    """Print (or write) the JSON Schema of every event type."""
    from shared.events.registry import render_schemas

    for path, text in render_schemas().items():
        if write:
            path.write_text(text)
            console.print(f"wrote {path}")
        else:
            sys.stdout.write(text)


def _signed_headers(secret: str, body: bytes, source: str) -> dict[str, str]:
    import uuid

    from services.ingest.domain.signatures import sign

    msg_id = f"msg_{uuid.uuid4().hex}"
    ts = int(time.time())
    return {
        "content-type": "application/json",
        "x-leadflow-source": source,
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
    }


@app.command("send-lead")
def send_lead(
    email: Annotated[str | None, typer.Option()] = None,
    phone: Annotated[str | None, typer.Option()] = None,
    first_name: Annotated[str | None, typer.Option()] = None,
    last_name: Annotated[str | None, typer.Option()] = None,
    company: Annotated[str | None, typer.Option()] = None,
    country: Annotated[str | None, typer.Option()] = None,
    source: Annotated[str, typer.Option()] = "website",
    secret: Annotated[str, typer.Option(envvar="LEADFLOW_DEV_WEBHOOK_SECRET")] = DEV_WEBHOOK_SECRET,
    url: Annotated[str, typer.Option()] = INGEST_URL,
) -> None:
    """Send one lead, signed like a real webhook sender, and print the answer."""
    import httpx

    fields = {
        "email": email,
        "phone": phone,
        "first_name": first_name,
        "last_name": last_name,
        "company": company,
        "country": country,
    }
    body = json.dumps({k: v for k, v in fields.items() if v is not None}).encode()
    response = httpx.post(
        f"{url}/v1/leads", content=body, headers=_signed_headers(secret, body, source), timeout=30
    )
    console.print(f"{response.status_code}")
    sys.stdout.write(response.text + "\n")
    raise typer.Exit(0 if response.is_success else 1)


@app.command("import-trade-show")
def import_trade_show(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="badge-scan CSV")
    ],
    show: Annotated[str, typer.Option(help="show slug, e.g. saastr-2026")],
    name: Annotated[str, typer.Option(help="show name")],
    end_date: Annotated[str, typer.Option(help="last day of the show, YYYY-MM-DD")],
    timezone: Annotated[str, typer.Option(help="the show's IANA time zone")],
    mapping: Annotated[
        str | None, typer.Option(help='JSON: CSV header -> lead field, e.g. {"E-Mail":"email"}')
    ] = None,
    url: Annotated[str, typer.Option()] = INGEST_URL,
    token: Annotated[str, typer.Option(envvar="LEADFLOW_ADMIN_TOKEN")] = DEV_ADMIN_TOKEN,
    show_rejected: Annotated[int, typer.Option(help="how many rejected rows to list")] = 20,
) -> None:
    """Upload a trade-show badge-scan file; every row is validated and published like a web lead."""
    import httpx
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    date.fromisoformat(end_date)
    raw = file.read_bytes()
    data = {"name": name, "end_date": end_date, "timezone": timezone}
    if mapping:
        data["mapping"] = mapping
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"uploading {file.name}", total=len(raw))

        class Tracked:
            def __init__(self) -> None:
                self.sent = 0

            def read(self, n: int = -1) -> bytes:
                chunk = raw[self.sent : self.sent + (n if n > 0 else len(raw))]
                self.sent += len(chunk)
                progress.update(task, completed=self.sent)
                if self.sent >= len(raw):
                    progress.update(task, description=f"validating and publishing {file.name}")
                return chunk

        response = httpx.post(
            f"{url}/v1/trade-shows/{show}/imports",
            data=data,
            files={"file": (file.name, Tracked(), "text/csv")},  # type: ignore[dict-item]
            headers={"authorization": f"Bearer {token}"},
            timeout=600,
        )
    if not response.is_success:
        console.print(f"[red]{response.status_code}[/red] {response.text}")
        raise typer.Exit(1)
    result = response.json()
    replay = " (already imported: nothing published again)" if response.status_code == 200 else ""
    console.print(
        f"import {result['import_id']}{replay}: {result['accepted']} accepted, {result['rejected']} rejected "
        f"of {result['total_rows']} rows; ignored columns: {', '.join(result['ignored_columns']) or 'none'}"
    )
    rejected = [r for r in result["rows"] if r["status"] == "rejected"]
    for row in rejected[:show_rejected]:
        reasons = "; ".join(f"{e['field']}: {e['message']}" for e in row["errors"])
        console.print(f"  row {row['row']}: {reasons}")
    if len(rejected) > show_rejected:
        console.print(
            f"  ... {len(rejected) - show_rejected} more: GET {url}/v1/imports/{result['import_id']}?status=rejected"
        )


if __name__ == "__main__":
    app()
