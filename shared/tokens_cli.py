"""``leadflow tokens``: make a named token (printed once, with the entry for the tokens file),
hash a token, check a tokens file."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from shared.auth import (
    TokenEntry,
    TokensFileError,
    entry_yaml,
    hash_token,
    new_token,
    parse_entry,
    parse_scopes,
    parse_tokens,
)

tokens_app = typer.Typer(
    help="Named admin tokens with scopes (LEADFLOW_ADMIN_TOKENS_FILE).", no_args_is_help=True
)


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@tokens_app.command("new")
def new(
    name: Annotated[str, typer.Option(help="who holds it: a person or a tool, e.g. alice")],
    scopes: Annotated[
        str, typer.Option(help="comma-separated: read, admin (implies read), import, activities")
    ],
    expires_at: Annotated[
        str | None, typer.Option(help="ISO 8601, e.g. 2027-06-30 (default: no expiry)")
    ] = None,
) -> None:
    """Print a new token once, and the entry to add under `tokens:` of the tokens file. The
    token itself is stored nowhere: hand it to its holder now."""
    try:
        held = parse_scopes(scopes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scopes") from None
    token = new_token()
    raw = {
        "name": name,
        "scopes": sorted(s.value for s in held),
        "sha256": hash_token(token),
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "expires_at": expires_at,
    }
    try:
        entry: TokenEntry = parse_entry(raw, "--name/--scopes/--expires-at")
    except TokensFileError as exc:
        raise typer.BadParameter(str(exc)) from None
    _out(f"token (shown once): {token}")
    _out("add to the tokens file, under tokens:")
    _out(entry_yaml(entry))


@tokens_app.command("hash")
def hash_() -> None:
    """Read a token from stdin and print its SHA-256, as the tokens file keeps it."""
    token = sys.stdin.readline().strip()
    if not token:
        raise typer.BadParameter("no token on stdin")
    _out(hash_token(token))


@tokens_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Validate a tokens file: exit 1 with the reason, or list its entries (no hashes)."""
    try:
        entries = parse_tokens(file.read_bytes(), origin=str(file))
    except TokensFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    now = datetime.now(UTC)
    for e in entries:
        state = "expired" if e.expired(now) else "active"
        until = f" until {e.expires_at.isoformat()}" if e.expires_at else ""
        _out(f"{e.name}\t{','.join(sorted(e.scopes))}\t{state}{until}")
    _out(f"{len(entries)} token(s), {len({e.name for e in entries})} name(s)")
