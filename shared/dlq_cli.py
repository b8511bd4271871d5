"""``leadflow dlq``: list dead-letter topics, inspect dead letters, replay them to their topic."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shared.cli_kafka import fail_on_authentication, kafka_settings
from shared.kafka.errors import KafkaAuthenticationFailed
from shared.kafka.producer import KafkaUnavailable
from shared.kafka.replay import REPLAY_GROUP, DeadLetter

dlq_app = typer.Typer(
    help="Dead letters: list the DLQ topics, inspect messages, replay them to their topic.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)

Bootstrap = Annotated[
    str | None,
    typer.Option(
        help="Kafka bootstrap servers (default: LEADFLOW_KAFKA_BOOTSTRAP_SERVERS, else "
        "127.0.0.1:9092); the LEADFLOW_KAFKA_* security settings apply"
    ),
]
Group = Annotated[
    str, typer.Option(help="consumer group whose committed offsets record replay progress")
]


@dlq_app.command("list")
def list_topics(bootstrap: Bootstrap = None, group: Group = REPLAY_GROUP) -> None:
    """Every dead-letter topic with its message count and how many await replay."""
    from shared.kafka.replay import dlq_counts

    kafka = kafka_settings(bootstrap).kafka()
    try:
        counts = asyncio.run(dlq_counts(kafka, group=group))
    except KafkaAuthenticationFailed as exc:
        fail_on_authentication(exc)
    table = Table(title=f"dead-letter topics on {kafka.bootstrap_servers}")
    table.add_column("topic")
    table.add_column("partitions", justify="right")
    table.add_column("messages", justify="right")
    table.add_column("awaiting replay", justify="right")
    for count in counts:
        style = "bold red" if count.awaiting_replay else None
        table.add_row(
            count.topic,
            str(count.partitions),
            str(count.messages),
            str(count.awaiting_replay),
            style=style,
        )
    out.print(table)


def _truncate(raw: bytes | None, limit: int) -> str:
    if raw is None:
        return "(null)"
    text = raw.decode(errors="replace")
    return text if len(text) <= limit else f"{text[:limit]}... ({len(raw)} bytes)"


def _print_letter(letter: DeadLetter, payload_chars: int) -> None:
    kind, ident = letter.event()
    error = f"{letter.header('dlq.error.type') or '?'}: {letter.header('dlq.error.message') or ''}"
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("partition/offset", f"{letter.partition}/{letter.offset}")
    table.add_row("key", _truncate(letter.key, 200))
    table.add_row("error", error.strip())
    table.add_row(
        "from",
        f"{letter.header('dlq.original.topic') or '?'} partition "
        f"{letter.header('dlq.original.partition') or '?'} offset "
        f"{letter.header('dlq.original.offset') or '?'}",
    )
    table.add_row(
        "consumer",
        f"{letter.header('dlq.consumer.group') or '?'} after "
        f"{letter.header('dlq.attempts') or '?'} attempt(s) at {letter.header('dlq.failed_at') or '?'}",
    )
    table.add_row("event", f"{kind or '(not a CloudEvent)'} {ident or ''}".strip())
    table.add_row("payload", _truncate(letter.value, payload_chars))
    out.rule(f"{letter.topic} {letter.partition}/{letter.offset}")
    out.print(table, soft_wrap=True)


@dlq_app.command("inspect")
def inspect(
    topic: Annotated[str, typer.Argument(help="a dead-letter topic, e.g. leads.received.v1.dlq")],
    limit: Annotated[int, typer.Option(min=1, help="show at most this many messages")] = 20,
    payload_chars: Annotated[int, typer.Option(min=0, help="truncate payloads here")] = 400,
    bootstrap: Bootstrap = None,
) -> None:
    """Show dead letters: offset, key, the error, the original topic, event type/id, payload."""
    from shared.kafka.replay import read_dead_letters

    kafka = kafka_settings(bootstrap).kafka()
    try:
        letters = asyncio.run(read_dead_letters(kafka, topic, limit=limit))
    except KafkaAuthenticationFailed as exc:
        fail_on_authentication(exc)
    except LookupError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    for letter in letters:
        _print_letter(letter, payload_chars)
    err.print(f"{len(letters)} dead letter(s) shown from {topic}")


@dlq_app.command("replay")
def replay(
    topic: Annotated[str, typer.Argument(help="a dead-letter topic, e.g. leads.received.v1.dlq")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="list what would be replayed; send nothing")
    ] = False,
    skip: Annotated[
        bool,
        typer.Option(
            "--skip",
            help="mark ONE dead letter handled without sending it (it can never succeed); "
            "needs --partition and --offset, and it must be the next one awaiting there",
        ),
    ] = False,
    partition: Annotated[int | None, typer.Option(min=0, help="with --skip")] = None,
    offset: Annotated[int | None, typer.Option(min=0, help="with --skip")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="replay at most this many")] = None,
    bootstrap: Bootstrap = None,
    group: Group = REPLAY_GROUP,
) -> None:
    """Re-publish dead letters (same key, value and original headers) to their original topic.

    Only messages not replayed before are sent: progress is committed by the consumer group."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from shared.kafka import replay as dlq

    if dry_run and skip:
        err.print("[red]--dry-run and --skip exclude each other[/red]")
        raise typer.Exit(2)
    named = partition is not None or offset is not None
    if (skip and (partition is None or offset is None)) or (named and not skip):
        err.print(
            "[red]--skip needs --partition and --offset of the dead letter to skip "
            "(see `leadflow dlq inspect`); they go with --skip only[/red]"
        )
        raise typer.Exit(2)
    kafka = kafka_settings(bootstrap).kafka()
    if skip:
        assert partition is not None and offset is not None
        try:
            letter = asyncio.run(dlq.skip_letter(kafka, topic, partition, offset, group=group))
        except KafkaAuthenticationFailed as exc:
            fail_on_authentication(exc)
        except (ValueError, LookupError, TimeoutError) as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        kind, ident = letter.event()
        out.print(
            f"skipped {letter.partition}/{letter.offset}: {kind or '(not a CloudEvent)'} {ident or ''} "
            f"({letter.header('dlq.error.type') or '?'}); nothing sent",
            soft_wrap=True,
        )
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as progress:
        doing = "dry run of" if dry_run else "replaying"
        task = progress.add_task(f"{doing} {topic}", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            result = asyncio.run(
                dlq.replay(
                    kafka,
                    topic,
                    group=group,
                    dry_run=dry_run,
                    limit=limit,
                    on_progress=on_progress,
                )
            )
        except KafkaAuthenticationFailed as exc:
            fail_on_authentication(exc)
        except (ValueError, LookupError, TimeoutError, KafkaUnavailable) as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
    if dry_run:
        for letter in result.letters:
            kind, ident = letter.event()
            out.print(
                f"would replay {letter.partition}/{letter.offset} -> {letter.original_topic}: "
                f"{kind or '(not a CloudEvent)'} {ident or ''} "
                f"({letter.header('dlq.error.type') or '?'})",
                soft_wrap=True,
            )
    targets = ", ".join(f"{n} to {t}" for t, n in sorted(result.by_topic.items())) or "nothing"
    verb = "would replay" if dry_run else "replayed"
    out.print(f"{verb} {result.replayed} of {result.total} awaiting: {targets}")
