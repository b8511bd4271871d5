"""``leadflow scoring``: evaluate the rules against outcomes, fit rules from outcomes, score
rows offline."""

from __future__ import annotations

import typer

scoring_app = typer.Typer(
    help="Scoring rules: evaluate them against outcomes, fit them from outcomes, score a CSV.",
    no_args_is_help=True,
)

# Registered here so that ``leadflow scoring --help`` lists them; the commands live in their
# own module (imported after ``scoring_app`` exists).
from services.router.scoring.commands import evaluate_command, score_command  # noqa: E402

scoring_app.command("evaluate")(evaluate_command)
scoring_app.command("score")(score_command)

from services.router.scoring.fit_cmd import fit_command  # noqa: E402

scoring_app.command("fit")(fit_command)
