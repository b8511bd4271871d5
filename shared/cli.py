"""The ``leadflow`` command line: run the stack, import trade-show files and purchased lists,
send demo leads."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import date
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.console import Console
from rich.table import Table

from services.router.scoring.cli import scoring_app
from services.router.search.cli import leads_app
from services.router.simulation.cli import routing_app
from shared.cli_kafka import fail_on_authentication, kafka_settings
from shared.dlq_cli import dlq_app
from shared.kafka.errors import KafkaAuthenticationFailed
from shared.settings import DEV_ADMIN_TOKEN, DEV_WEBHOOK_SECRET
from shared.tokens_cli import tokens_app

app = typer.Typer(
    help="leadflow: route every lead to the right rep within the hour.", no_args_is_help=True
)
stack_app = typer.Typer(
    help="The local stack: embedded PostgreSQL and a KRaft Kafka broker.", no_args_is_help=True
)


def _print_version(value: bool) -> None:
    if value:
        from shared.build import describe

        print(describe())
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """leadflow: route every lead to the right rep within the hour."""


app.add_typer(stack_app, name="stack")
app.add_typer(dlq_app, name="dlq")
app.add_typer(tokens_app, name="tokens")
app.add_typer(scoring_app, name="scoring")
app.add_typer(routing_app, name="routing")
app.add_typer(leads_app, name="leads")
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


@app.command("rekey-companies")
def rekey_companies(
    batch: Annotated[int, typer.Option(min=1, help="leads per transaction")] = 1000,
) -> None:
    """Recompute every lead's company keys with the current matching rules (after an upgrade
    that changed them), against LEADFLOW_DATABASE_URL (or the local stack). Safe to stop and
    run again, also while the router runs."""
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.router.intake.rekey import count_leads
    from services.router.intake.rekey import rekey_companies as rekey
    from shared import db

    url = os.environ.get("LEADFLOW_DATABASE_URL") or _stack().database_url

    async def run() -> tuple[int, int]:
        engine = db.create_engine(url, pool_size=1)
        try:
            total = await count_leads(engine)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("leads rekeyed: 0 changed", total=total)

                def moved(seen: int, changed: int) -> None:
                    progress.update(
                        task, completed=seen, description=f"leads rekeyed: {changed:,} changed"
                    )

                result = await rekey(engine, batch=batch, progress=moved)
            return result.seen, result.changed
        finally:
            await engine.dispose()

    seen, changed = asyncio.run(run())
    console.print(f"{seen:,} leads seen, {changed:,} with new company keys")


@app.command("create-topics")
def create_topics(
    bootstrap: Annotated[
        str | None,
        typer.Option(
            help="Kafka bootstrap servers (default: LEADFLOW_KAFKA_BOOTSTRAP_SERVERS, else "
            "127.0.0.1:9092)"
        ),
    ] = None,
    prefix: Annotated[str, typer.Option(envvar="LEADFLOW_TOPIC_PREFIX")] = "",
    replication_factor: Annotated[
        int | None,
        typer.Option(
            help="copies of each partition (default: LEADFLOW_KAFKA_REPLICATION_FACTOR, else 3 "
            "from three brokers on, else 1)"
        ),
    ] = None,
    min_insync_replicas: Annotated[
        int | None,
        typer.Option(
            help="copies acks=all waits for (default: LEADFLOW_KAFKA_MIN_INSYNC_REPLICAS, else "
            "replication factor - 1 from 3 copies on, else 1)"
        ),
    ] = None,
    dlq_retention_days: Annotated[
        int | None,
        typer.Option(
            help="how long dead letters are kept (default: LEADFLOW_KAFKA_DLQ_RETENTION_DAYS, 30)"
        ),
    ] = None,
) -> None:
    """Create leadflow's topics (and their DLQs) with their partition counts, replicated for
    the cluster (see the options); existing topics are left as they are. Connects with the
    LEADFLOW_KAFKA_* security settings."""
    import asyncio

    from shared.kafka.topics import TopicPolicyError, all_topics, ensure_topics

    settings = kafka_settings(bootstrap)
    try:
        created = asyncio.run(
            ensure_topics(
                settings.kafka(),
                all_topics(prefix),
                replication_factor
                if replication_factor is not None
                else settings.kafka_replication_factor,
                min_insync_replicas=min_insync_replicas
                if min_insync_replicas is not None
                else settings.kafka_min_insync_replicas,
                dlq_retention_days=dlq_retention_days
                if dlq_retention_days is not None
                else settings.kafka_dlq_retention_days,
            )
        )
    except TopicPolicyError as exc:
        raise typer.BadParameter(str(exc)) from None
    except KafkaAuthenticationFailed as exc:
        fail_on_authentication(exc)
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


FINISHED_IMPORT = ("done", "cancelled", "failed")
# how often the command line asks for an import's progress
IMPORT_POLL_SECONDS = 0.5


def _upload_and_follow(
    path: str,
    file: Path,
    data: dict[str, str],
    *,
    url: str,
    token: str,
    show_rejected: int,
    wait: bool,
) -> None:
    """Upload an import file with a progress bar, then follow its job to the end with another
    (polling ``GET /v1/imports/{id}``), then print the summary and the first rejected rows."""
    import httpx
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    size = file.stat().st_size
    auth = {"authorization": f"Bearer {token}"}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"uploading {file.name}", total=size)

        class Tracked:
            """The file, read as httpx streams it, moving the upload bar."""

            def __init__(self, stream: BinaryIO) -> None:
                self.stream = stream
                self.sent = 0

            def read(self, n: int = -1) -> bytes:
                chunk = self.stream.read(n)
                self.sent += len(chunk)
                progress.update(task, completed=self.sent)
                if self.sent >= size:
                    progress.update(task, description=f"storing {file.name}")
                return chunk

        with file.open("rb") as stream:
            response = httpx.post(
                f"{url}{path}",
                data=data,
                files={"file": (file.name, Tracked(stream), "text/csv")},  # type: ignore[dict-item]
                headers=auth,
                timeout=600,
            )
    if not response.is_success:
        console.print(f"[red]{response.status_code}[/red] {response.text}")
        raise typer.Exit(1)
    job = response.json()
    import_id = job["import_id"]
    job_url = f"{url}/v1/imports/{import_id}"
    if response.status_code == 200:
        console.print(f"import {import_id}: this file was uploaded before; following that import")
    if not wait:
        console.print(f"import {import_id} is {job['status']}: follow it at GET {job_url}")
        return
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task(f"import {job['status']}", total=job.get("total_rows"))
            while True:
                progress.update(
                    task,
                    total=job.get("total_rows"),
                    completed=job["rows_read"],
                    description=f"import {job['status']} ({job['accepted']} accepted, {job['rejected']} rejected)",
                )
                if job["status"] in FINISHED_IMPORT:
                    break
                time.sleep(IMPORT_POLL_SECONDS)
                polled = httpx.get(job_url, params={"limit": 0}, headers=auth, timeout=30)
                if not polled.is_success:
                    console.print(f"[red]{polled.status_code}[/red] {polled.text}")
                    raise typer.Exit(1)
                job = polled.json()
    except KeyboardInterrupt:
        console.print(
            f"\nthe import goes on without this command: follow it at GET {job_url}, "
            f"cancel it with DELETE {job_url}"
        )
        raise typer.Exit(130) from None

    status = job["status"]
    color = "green" if status == "done" else "red"
    console.print(
        f"import {import_id} [{color}]{status}[/{color}]: {job['accepted']} accepted, "
        f"{job['rejected']} rejected of {job['total_rows']} rows; "
        f"ignored columns: {', '.join(job['ignored_columns']) or 'none'}"
    )
    if job.get("error"):
        console.print(f"  error: {job['error']}")
    if job["rejected"] and show_rejected:
        page = httpx.get(
            job_url,
            params={"status": "rejected", "limit": show_rejected},
            headers=auth,
            timeout=30,
        ).json()
        for row in page["rows"]:
            reasons = "; ".join(f"{e['field']}: {e['message']}" for e in row["errors"])
            console.print(f"  row {row['row']}: {reasons}")
        if job["rejected"] > len(page["rows"]):
            console.print(
                f"  ... {job['rejected'] - len(page['rows'])} more: GET {job_url}?status=rejected"
            )
    if status != "done":
        raise typer.Exit(1)


MappingOption = Annotated[
    str | None, typer.Option(help='JSON: CSV header -> lead field, e.g. {"E-Mail":"email"}')
]
# the operator's own named token (LEADFLOW_TOKEN), else the deprecated single admin token
TokenOption = Annotated[
    str,
    typer.Option(
        envvar=["LEADFLOW_TOKEN", "LEADFLOW_ADMIN_TOKEN"], help="a token with the import scope"
    ),
]
ShowRejectedOption = Annotated[int, typer.Option(help="how many rejected rows to list")]
WaitOption = Annotated[
    bool, typer.Option(help="follow the import job to the end (--no-wait: upload only)")
]


@app.command("import-trade-show")
def import_trade_show(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="badge-scan CSV")
    ],
    show: Annotated[str, typer.Option(help="show slug, e.g. saastr-2026")],
    name: Annotated[str, typer.Option(help="show name")],
    end_date: Annotated[str, typer.Option(help="last day of the show, YYYY-MM-DD")],
    timezone: Annotated[str, typer.Option(help="the show's IANA time zone")],
    mapping: MappingOption = None,
    url: Annotated[str, typer.Option()] = INGEST_URL,
    token: TokenOption = DEV_ADMIN_TOKEN,
    show_rejected: ShowRejectedOption = 20,
    wait: WaitOption = True,
) -> None:
    """Import a trade-show badge-scan file: upload it, then follow its import job to the end."""
    date.fromisoformat(end_date)
    data = {"name": name, "end_date": end_date, "timezone": timezone}
    if mapping:
        data["mapping"] = mapping
    _upload_and_follow(
        f"/v1/trade-shows/{show}/imports",
        file,
        data,
        url=url,
        token=token,
        show_rejected=show_rejected,
        wait=wait,
    )


@app.command("import-list")
def import_list(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="purchased-list CSV")
    ],
    list_id: Annotated[
        str, typer.Option("--list", help="the list source's id, e.g. purchased-lists")
    ],
    mapping: MappingOption = None,
    url: Annotated[str, typer.Option()] = INGEST_URL,
    token: TokenOption = DEV_ADMIN_TOKEN,
    show_rejected: ShowRejectedOption = 20,
    wait: WaitOption = True,
) -> None:
    """Import a purchased list (names for nurture, never routed to sales): upload it, then
    follow its import job to the end."""
    data = {"mapping": mapping} if mapping else {}
    _upload_and_follow(
        f"/v1/lists/{list_id}/imports",
        file,
        data,
        url=url,
        token=token,
        show_rejected=show_rejected,
        wait=wait,
    )


if __name__ == "__main__":
    app()
