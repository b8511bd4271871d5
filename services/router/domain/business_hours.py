"""Working hours in a time zone, and clock arithmetic that counts only open time.

A window is a pair of local wall-clock times on one day, ``start < end``; an ``end``
of ``time(0)`` means 24:00, the midnight that closes the day. On a given date a
window runs from the first instant the local clock reads ``start`` to the first
instant it reads ``end``, so it lasts as long as real time says: 08:00-18:00 on a
DST-change day is still ten hours, and a window across the change loses the skipped
hour or gains the repeated one. A boundary inside a skipped hour falls at the jump;
one inside a repeated hour means its first occurrence.

A holiday (see :mod:`~services.router.domain.holiday_calendar`) is closed all day, local
midnight to local midnight in the hours' zone, whatever its windows say.

Every function takes timezone-aware datetimes and returns UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from services.router.domain.holiday_calendar import Holiday, HolidayCalendar
from shared.domain.zones import first_instant, get_zone, to_utc

Window = tuple[time, time]
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_MIDNIGHT = time(0)
_ONE_DAY = timedelta(days=1)
_ONE_MINUTE = timedelta(minutes=1)
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


@dataclass(frozen=True)
class WorkingHours:
    """Open windows per weekday (Monday=0 .. Sunday=6) in the IANA zone ``tz``, closed on
    the days of ``holidays`` (when given)."""

    tz: str
    windows: tuple[tuple[Window, ...], ...]
    holidays: HolidayCalendar | None = None

    def __post_init__(self) -> None:
        get_zone(self.tz)
        if len(self.windows) != 7:
            raise ValueError(f"working hours need 7 days of windows, got {len(self.windows)}")
        days = tuple(
            _check_day(name, day) for name, day in zip(DAY_NAMES, self.windows, strict=True)
        )
        object.__setattr__(self, "windows", days)
        # A cache key of every business-hours look-up: hashed once.
        object.__setattr__(self, "_hash", hash((self.tz, days, self.holidays)))

    def __hash__(self) -> int:
        return self.__dict__["_hash"]  # type: ignore[no-any-return]

    @classmethod
    def parse(
        cls,
        tz: str,
        spec: Mapping[str, str | list[str]],
        holidays: HolidayCalendar | None = None,
    ) -> WorkingHours:
        """``{"mon-fri": "08:00-18:00", "sat": ["09:00-12:00", "13:00-16:00"]}``; unnamed days are closed."""
        days: list[tuple[Window, ...] | None] = [None] * 7
        for key, value in spec.items():
            windows = _parse_windows(key, value)
            for index in _parse_days(key):
                if days[index] is not None:
                    raise ValueError(
                        f"{DAY_NAMES[index]} is given more than once (again in {key!r})"
                    )
                days[index] = windows
        return cls(tz, tuple(day or () for day in days), holidays)

    @property
    def zone(self) -> ZoneInfo:
        return get_zone(self.tz)

    def is_open(self, at: datetime) -> bool:
        at = to_utc(at)
        if not any(self.windows):
            return False
        # Routing asks this for every rep of a team on every lead, at nearly the same
        # instant: the last answer holds over the span it was computed for (open until
        # the interval ends; closed from the question until the next interval starts).
        memo = self.__dict__.get("_memo")
        if memo is not None and memo[0] <= at < memo[1]:
            return bool(memo[2])
        start, end = next(self._intervals(at))
        span = (start, end, True) if start <= at else (at, start, False)
        self.__dict__["_memo"] = span
        return span[2]

    def holiday_on(self, at: datetime) -> Holiday | None:
        """The holiday of the local day that ``at`` falls on, if it is one."""
        if self.holidays is None:
            return None
        return self.holidays.get(to_utc(at).astimezone(self.zone).date())

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself (in UTC) when open, else the start of the next window."""
        at = to_utc(at)
        start, _ = next(self._intervals(at))
        return max(start, at)

    def _intervals(self, after: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals in UTC, in order, from the one that contains or follows ``after``."""
        if not any(self.windows):
            raise ValueError(f"working hours in {self.tz} have no open window")
        # Two days back: a late-night fall-back can leave the local date behind.
        day = after.astimezone(self.zone).date() - 2 * _ONE_DAY
        while True:
            for start, end in _day_intervals(self, day):
                if end > after:
                    yield start, end
            day += _ONE_DAY


def ALWAYS(tz: str = "UTC") -> WorkingHours:
    """Open 24x7."""
    return WorkingHours(tz, tuple(((_MIDNIGHT, _MIDNIGHT),) for _ in DAY_NAMES))


def add_business_minutes(start: datetime, minutes: int, hours: WorkingHours) -> datetime:
    """The instant (UTC) when ``minutes`` of open time have passed since ``start``.

    Counting begins at the next opening when ``start`` is outside the hours, so zero
    minutes gives ``hours.next_open(start)``. When the count runs out exactly at the
    end of a window, that end is the answer.
    """
    if minutes < 0:
        raise ValueError(f"minutes must be >= 0, got {minutes}")
    at = to_utc(start)
    remaining = timedelta(minutes=minutes)
    for window_start, window_end in hours._intervals(at):
        opened = max(window_start, at)
        if remaining <= window_end - opened:
            return opened + remaining
        remaining -= window_end - opened
    raise AssertionError("unreachable: open intervals never run out")


def skipped_holidays(start: datetime, end: datetime, hours: WorkingHours) -> tuple[Holiday, ...]:
    """Holidays whose open time (the day's windows, were it not a holiday) falls inside
    ``[start, end)``: the days a business-time span such as an SLA window had to skip."""
    if hours.holidays is None or to_utc(end) <= to_utc(start):
        return ()
    lo, hi = to_utc(start), to_utc(end)
    zone = hours.zone
    found = hours.holidays.between(lo.astimezone(zone).date(), hi.astimezone(zone).date())
    if not found:
        return ()
    plain = _without_holidays(hours)
    return tuple(
        h
        for h in found
        if any(opens < hi and closes > lo for opens, closes in _day_intervals(plain, h.day))
    )


def business_minutes_between(start: datetime, end: datetime, hours: WorkingHours) -> float:
    """Open minutes in ``[start, end)``; 0 when ``end`` is not after ``start``."""
    lo, hi = to_utc(start), to_utc(end)
    if hi <= lo or not any(hours.windows):
        return 0.0
    total = timedelta(0)
    for window_start, window_end in hours._intervals(lo):
        if window_start >= hi:
            break
        total += min(window_end, hi) - max(window_start, lo)
    return total / _ONE_MINUTE


@lru_cache(maxsize=256)
def _without_holidays(hours: WorkingHours) -> WorkingHours:
    return WorkingHours(hours.tz, hours.windows)


@lru_cache(maxsize=8192)
def _day_intervals(hours: WorkingHours, day: date) -> tuple[tuple[datetime, datetime], ...]:
    if hours.holidays is not None and hours.holidays.get(day) is not None:
        return ()  # closed all day, local midnight to midnight
    zone = hours.zone
    intervals = []
    for start, end in hours.windows[day.weekday()]:
        opens = first_instant(zone, datetime.combine(day, start))
        local_end = (
            datetime.combine(day + _ONE_DAY, _MIDNIGHT)
            if end == _MIDNIGHT
            else datetime.combine(day, end)
        )
        closes = first_instant(zone, local_end)
        if closes > opens:  # a window wholly inside a skipped hour is empty
            intervals.append((opens, closes))
    return tuple(intervals)


def _day_length(t: time, *, end: bool) -> timedelta:
    if end and t == _MIDNIGHT:
        return _ONE_DAY
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond)


def _check_day(name: str, windows: tuple[Window, ...]) -> tuple[Window, ...]:
    for start, end in windows:
        if not isinstance(start, time) or not isinstance(end, time):
            raise ValueError(f"{name}: a window is a pair of datetime.time, got {(start, end)!r}")
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError(f"{name}: window times are local wall-clock times, without tzinfo")
        if _day_length(end, end=True) <= _day_length(start, end=False):
            raise ValueError(
                f"{name}: window {_fmt(start, end)} must end after it starts "
                "(no overnight windows: split them at 24:00)"
            )
    ordered = tuple(sorted(windows, key=lambda w: w[0]))
    for (s1, e1), (s2, e2) in pairwise(ordered):
        if _day_length(e1, end=True) > _day_length(s2, end=False):
            raise ValueError(f"{name}: windows {_fmt(s1, e1)} and {_fmt(s2, e2)} overlap")
    return ordered


def _fmt(start: time, end: time) -> str:
    return f"{start:%H:%M}-{'24:00' if end == _MIDNIGHT else f'{end:%H:%M}'}"


def _parse_days(key: str) -> list[int]:
    names = [part.strip().lower() for part in key.split("-")]
    if len(names) > 2 or any(name not in DAY_NAMES for name in names):
        raise ValueError(
            f"unknown day {key!r}: use mon, tue, wed, thu, fri, sat, sun or a range like mon-fri"
        )
    first, last = DAY_NAMES.index(names[0]), DAY_NAMES.index(names[-1])
    return [(first + i) % 7 for i in range((last - first) % 7 + 1)]  # fri-mon wraps


def _parse_windows(key: str, value: object) -> tuple[Window, ...]:
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        texts = list(value)
    else:
        raise ValueError(f"{key}: expected 'HH:MM-HH:MM' or a list of them, got {value!r}")
    return tuple(_parse_window(key, text) for text in texts)


def _parse_window(key: str, text: str) -> Window:
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"{key}: window {text!r} is not 'HH:MM-HH:MM'")
    start, end = (_parse_time(key, text, part) for part in parts)
    if start is None:
        raise ValueError(f"{key}: window {text!r} cannot start at 24:00")
    if end is None:
        end = _MIDNIGHT  # 24:00
    if end != _MIDNIGHT and end <= start:
        raise ValueError(
            f"{key}: window {text!r} must end after it starts "
            "(no overnight windows: split at 24:00 into two days)"
        )
    return start, end


def _parse_time(key: str, text: str, part: str) -> time | None:
    """A time, or None for 24:00."""
    match = _TIME.fullmatch(part.strip())
    if match is None:
        raise ValueError(f"{key}: {part.strip()!r} in {text!r} is not a time HH:MM")
    hour, minute = int(match[1]), int(match[2])
    if (hour, minute) == (24, 0):
        return None
    if hour > 23 or minute > 59:
        raise ValueError(f"{key}: {part.strip()!r} in {text!r} is not a valid time")
    return time(hour, minute)
