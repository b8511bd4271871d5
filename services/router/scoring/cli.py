"""``leadflow scoring``: evaluate the rules against outcomes, fit rules from outcomes, score
rows offline."""

from __future__ import annotations

import typer

scoring_app = typer.Typer(
    help="Scoring rules: evaluate them against outcomes, fit them from outcomes, score a CSV.",
    no_args_is_help=True,
)
