"""Nurture sequences as configured: steps with delays, channels, templates, send windows,
quiet hours; the per-lead frequency cap; the remarket, re-engagement and sunset clocks.

Pure: the model validates a parsed YAML document and says clearly what is wrong."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from services.nurture.domain.schedule import REMARKET_DAYS, QuietHours, SendWindow, next_send_at
from shared.domain.zones import get_zone

Channel = Literal["email", "sms", "task"]
Trigger = Literal["web_welcome", "trade_show", "nurture", "purchased_list", "reengagement"]
Temperature = Literal["hot", "warm", "cold"]
Segment = Literal["under_3_months", "3_to_12_months", "over_1_year"]
SEGMENTS: tuple[Segment, ...] = ("under_3_months", "3_to_12_months", "over_1_year")
TEMPERATURES: tuple[Temperature, ...] = ("hot", "warm", "cold")

_EPOCH = datetime(2026, 1, 5, tzinfo=UTC)
_DELAY = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_delay(text: str) -> timedelta:
    """``"0m"``, ``"4h"``, ``"2d"``, ``"1w"``."""
    m = _DELAY.match(text)
    if m is None:
        raise ValueError(f"delay {text!r} must be a number and a unit m, h, d or w, e.g. '2d'")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowConfig(_Strict):
    days: str = Field(description="mon-fri, daily, sat,sun ...")
    hours: str = Field(description="HH:MM-HH:MM, local to the lead")

    @model_validator(mode="after")
    def _valid(self) -> WindowConfig:
        self.window()
        return self

    def window(self) -> SendWindow:
        return SendWindow.parse(self.days, self.hours)


class StepConfig(_Strict):
    delay: str = Field(description="after the previous step (the first: after enrollment)")
    channel: Channel
    template: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    send_window: WindowConfig | None = None
    quiet_hours: str | None = None
    confirm_opt_in: bool = Field(
        False,
        description="a double opt-in request (email): sent where email needs opt-in and the "
        "lead's consent is not known, once per lead; its confirmed click records consent",
    )

    @model_validator(mode="after")
    def _confirm_by_email(self) -> StepConfig:
        if self.confirm_opt_in and self.channel != "email":
            raise ValueError(f"confirm_opt_in is an email step, not {self.channel}")
        return self

    @field_validator("delay")
    @classmethod
    def _delay(cls, v: str) -> str:
        parse_delay(v)
        return v

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None) -> str | None:
        if v is not None:
            QuietHours.parse(v)
        return v

    @property
    def delay_td(self) -> timedelta:
        return parse_delay(self.delay)


class TriggerConfig(_Strict):
    kind: Trigger
    temperatures: tuple[Temperature, ...] | None = Field(None, description="for kind nurture")
    segment: Segment | None = Field(None, description="for kind reengagement")

    @model_validator(mode="after")
    def _valid(self) -> TriggerConfig:
        if self.kind == "nurture" and not self.temperatures:
            raise ValueError("a nurture trigger needs temperatures, e.g. [warm]")
        if self.kind != "nurture" and self.temperatures is not None:
            raise ValueError(f"temperatures only apply to nurture triggers, not {self.kind}")
        if self.kind == "reengagement" and self.segment is None:
            raise ValueError(
                f"a reengagement trigger needs a segment: one of {', '.join(SEGMENTS)}"
            )
        if self.kind != "reengagement" and self.segment is not None:
            raise ValueError(f"segment only applies to reengagement triggers, not {self.kind}")
        return self


class SequenceConfig(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str
    trigger: TriggerConfig
    send_window: WindowConfig | None = None
    quiet_hours: str | None = None
    steps: tuple[StepConfig, ...] = Field(min_length=1)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None) -> str | None:
        if v is not None:
            QuietHours.parse(v)
        return v


class FrequencyCap(_Strict):
    max_per_week: int = Field(ge=1, le=50)


class Defaults(_Strict):
    timezone: str = Field(description="when neither the lead nor its team has one")
    send_window: WindowConfig
    quiet_hours: str | None = None
    frequency_cap: FrequencyCap

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        get_zone(v)
        return v

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None) -> str | None:
        if v is not None:
            QuietHours.parse(v)
        return v


class Lifecycle(_Strict):
    remarket_after_days: int = Field(
        30, description="unresponsive this long (30 to 45 days): active list -> remarket list"
    )
    reengage_after_days: int = Field(
        30, ge=1, description="idle this long with no sequence running: re-engagement starts"
    )
    sunset_after_days: int = Field(
        14, ge=1, description="silent this long after the last re-engagement step: sunset"
    )

    @field_validator("remarket_after_days")
    @classmethod
    def _remarket(cls, v: int) -> int:
        if v not in REMARKET_DAYS:
            raise ValueError(f"remarket_after_days must be between 30 and 45, got {v}")
        return v


@dataclass(frozen=True)
class StepPlan:
    """One step with its effective window and quiet hours."""

    index: int  # 1-based
    delay: timedelta
    channel: Channel
    template: str
    window: SendWindow
    quiet: QuietHours | None
    confirm_opt_in: bool = False


class SequencesConfig(_Strict):
    version: int = 1
    defaults: Defaults
    lifecycle: Lifecycle = Field(default_factory=lambda: Lifecycle.model_validate({}))
    sequences: tuple[SequenceConfig, ...] = Field(min_length=1)
    _plans: dict[str, tuple[StepPlan, ...]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _valid(self) -> SequencesConfig:
        ids = [s.id for s in self.sequences]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"sequence ids must be unique: {', '.join(dupes)} repeated")
        for kind in ("web_welcome", "trade_show", "purchased_list"):
            found = [s.id for s in self.sequences if s.trigger.kind == kind]
            if len(found) != 1:
                raise ValueError(
                    f"exactly one sequence needs trigger {kind}, found {found or 'none'}"
                )
        for temperature in TEMPERATURES:
            found = [
                s.id
                for s in self.sequences
                if s.trigger.kind == "nurture" and temperature in (s.trigger.temperatures or ())
            ]
            if len(found) != 1:
                raise ValueError(
                    f"exactly one nurture sequence must cover temperature {temperature}, found {found or 'none'}"
                )
        for segment in SEGMENTS:
            found = [s.id for s in self.sequences if s.trigger.segment == segment]
            if len(found) != 1:
                raise ValueError(
                    f"exactly one reengagement sequence must cover segment {segment}, found {found or 'none'}"
                )
        for seq in self.sequences:  # every step must be sendable some time
            plans = _plans(self, seq)
            for plan in plans:
                try:
                    next_send_at(_EPOCH, self.defaults.timezone, plan.window, plan.quiet)
                except ValueError as exc:
                    raise ValueError(f"sequence {seq.id} step {plan.index}: {exc}") from None
            self._plans[seq.id] = plans
        return self

    def sequence(self, sequence_id: str) -> SequenceConfig:
        for s in self.sequences:
            if s.id == sequence_id:
                return s
        raise KeyError(sequence_id)

    def for_trigger(
        self, kind: Trigger, *, temperature: str | None = None, segment: str | None = None
    ) -> SequenceConfig:
        for s in self.sequences:
            if s.trigger.kind != kind:
                continue
            if kind == "nurture" and temperature not in (s.trigger.temperatures or ()):
                continue
            if kind == "reengagement" and s.trigger.segment != segment:
                continue
            return s
        raise KeyError(f"{kind} {temperature or segment or ''}".strip())

    def steps(self, sequence_id: str) -> tuple[StepPlan, ...]:
        """The steps of a sequence with their effective windows (KeyError if unknown)."""
        return self._plans[sequence_id]


def _plans(config: SequencesConfig, seq: SequenceConfig) -> tuple[StepPlan, ...]:
    out = []
    for i, step in enumerate(seq.steps, start=1):
        window = step.send_window or seq.send_window or config.defaults.send_window
        quiet = step.quiet_hours or seq.quiet_hours or config.defaults.quiet_hours
        out.append(
            StepPlan(
                index=i,
                delay=step.delay_td,
                channel=step.channel,
                template=step.template,
                window=window.window(),
                quiet=QuietHours.parse(quiet) if quiet else None,
                confirm_opt_in=step.confirm_opt_in,
            )
        )
    return tuple(out)
