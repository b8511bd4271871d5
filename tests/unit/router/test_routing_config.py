"""The routing config file: holiday calendars and period caps are checked at load."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.router.routing_config import (
    RoutingConfigError,
    load_routing_config,
    rep_row,
    team_row,
)

DEPLOY = Path(__file__).parents[3] / "deploy" / "config" / "routing.yaml"
FIXTURES = Path(__file__).parents[2] / "fixtures"


def _config(tmp_path: Path, team: dict[str, Any], rep: dict[str, Any]) -> Path:
    base_team = {
        "id": "emea",
        "name": "EMEA",
        "timezone": "Europe/Berlin",
        "business_hours": {"mon-fri": "08:00-18:00"},
    }
    base_rep = {
        "id": "rep-a",
        "name": "A",
        "team": "emea",
        "timezone": "Europe/Berlin",
        "working_hours": {"mon-fri": "08:00-17:00"},
    }
    path = tmp_path / "routing.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "teams": [{**base_team, **team}],
                "reps": [{**base_rep, **rep}],
                "rules": [{"name": "all", "team": "emea"}],
            }
        )
    )
    return path


def test_the_shipped_files_load_with_their_calendars() -> None:
    config = load_routing_config(DEPLOY)
    teams = {t.id: (t.country, t.subdivision) for t in config.teams}
    assert teams == {
        "emea": ("DE", None),
        "amer": ("US", None),
        "amer-enterprise": ("US", None),
        "apac": ("SG", None),
    }
    reps = {r.id: (r.country, r.subdivision) for r in config.reps}
    assert reps["rep-lena"] == ("DE", "BE") and reps["rep-tom"] == ("GB", "ENG")
    assert reps["rep-ana"] == ("PT", None)
    assert all(country for country, _ in reps.values())
    load_routing_config(FIXTURES / "routing-availability.yaml")


def test_calendars_and_caps_reach_the_rows(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        {
            "country": "de",
            "subdivision": "be",
            "holidays": [
                {"date": "2026-12-31", "name": "Shutdown"},
                {"date": "2026-12-24", "name": "Eve"},
            ],
        },
        {"country": "GB", "subdivision": "ENG", "daily_cap": 5, "weekly_cap": 20},
    )
    config = load_routing_config(path)
    team = team_row(config.teams[0])
    assert (team["country"], team["subdivision"]) == ("DE", "BE")
    assert team["holidays"] == [
        {"date": "2026-12-24", "name": "Eve"},
        {"date": "2026-12-31", "name": "Shutdown"},
    ]
    rep = rep_row(config.reps[0], datetime(2026, 12, 1, tzinfo=UTC))
    assert (rep["daily_cap"], rep["weekly_cap"], rep["country"], rep["holidays"]) == (
        5,
        20,
        "GB",
        [],
    )
    assert (rep["open_leads"], rep["current_weight"]) == (0, 0)


@pytest.mark.parametrize(
    ("team", "rep", "message"),
    [
        ({"country": "XX"}, {}, "country\n  Value error, unknown holiday country 'XX'"),
        (
            {"country": "DE", "subdivision": "ZZ"},
            {},
            "unknown subdivision 'ZZ' of DE: use one of BB, BE",
        ),
        ({"subdivision": "BE"}, {}, "a subdivision needs a country"),
        ({}, {"country": "US", "subdivision": "Atlantis"}, "unknown subdivision 'Atlantis' of US"),
        (
            {
                "holidays": [
                    {"date": "2026-12-24", "name": "a"},
                    {"date": "2026-12-24", "name": "b"},
                ]
            },
            {},
            "2026-12-24 given more than once",
        ),
        ({"holidays": [{"date": "2026-13-01", "name": "a"}]}, {}, "holidays.0.date"),
        ({}, {"daily_cap": 0}, "daily_cap\n  Input should be greater than or equal to 1"),
        ({}, {"weekly_cap": -3}, "weekly_cap"),
    ],
)
def test_bad_calendars_and_caps_are_clear_errors(
    tmp_path: Path, team: dict[str, Any], rep: dict[str, Any], message: str
) -> None:
    with pytest.raises(RoutingConfigError) as error:
        load_routing_config(_config(tmp_path, team, rep))
    assert message in str(error.value)
