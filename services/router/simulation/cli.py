"""``leadflow routing``: try routing changes on history before they go live."""

from __future__ import annotations

import typer

routing_app = typer.Typer(
    help="Routing changes tried on history: replay stored leads through a candidate file.",
    no_args_is_help=True,
)
