"""The sequences file: the shipped one loads; mistakes get errors that say what is wrong."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from services.nurture.domain.sequences import parse_delay
from services.nurture.sequences_file import SequencesFileError, load_sequences

SHIPPED = Path(__file__).parents[3] / "deploy" / "config" / "nurture.yaml"
RAW = yaml.safe_load(SHIPPED.read_text())


def test_shipped_file_loads_with_every_trigger_covered():
    config = load_sequences(SHIPPED)
    assert config.for_trigger("web_welcome").id == "web-welcome"
    assert config.for_trigger("reengagement", segment="over_1_year").id == "reengage-dormant"
    plans = config.steps("web-welcome")
    assert [p.index for p in plans] == [1, 2, 3] and plans[1].delay == timedelta(days=2)
    assert config.defaults.frequency_cap.max_per_week == 3


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("0m", timedelta(0)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
    ],
)
def test_delays(text, delta):
    assert parse_delay(text) == delta


def broken(tmp_path, change) -> str:
    raw = copy.deepcopy(RAW)
    change(raw)
    path = tmp_path / "nurture.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SequencesFileError) as err:
        load_sequences(path)
    return str(err.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r["sequences"][0]["steps"][0].update(delay="2 days"),
            "must be a number and a unit",
        ),
        (lambda r: r["sequences"][0]["steps"][0].update(channel="fax"), "channel"),
        (
            lambda r: r["sequences"][0].update(
                send_window={"days": "mon-fri", "hours": "17:00-09:00"}
            ),
            "must end after it starts",
        ),
        (lambda r: r["sequences"][0].update(quiet_hours="00:00-24:00"), "quiet hours"),
        (
            lambda r: r["sequences"][0].update(
                send_window={"days": "daily", "hours": "21:00-23:00"}
            ),
            "wholly inside quiet hours",
        ),
        (lambda r: r["sequences"].append(copy.deepcopy(r["sequences"][0])), "unique"),
        (lambda r: r["sequences"].pop(1), "trigger trade_show"),
        (lambda r: r["sequences"][2]["trigger"].update(temperatures=["warm"]), "temperature hot"),
        (lambda r: r["sequences"][5]["trigger"].pop("segment"), "needs a segment"),
        (lambda r: r["lifecycle"].update(remarket_after_days=60), "between 30 and 45"),
        (lambda r: r["defaults"].update(timezone="Mars/Base"), "unknown time zone"),
        (lambda r: r["sequences"][0].update(steps=[]), "at least 1"),
        (lambda r: r["sequences"][0].update(colour="blue"), "colour"),
    ],
)
def test_mistakes_are_named(tmp_path, change, message):
    assert message in broken(tmp_path, change)


def test_missing_file(tmp_path):
    with pytest.raises(SequencesFileError, match="not found"):
        load_sequences(tmp_path / "nope.yaml")
