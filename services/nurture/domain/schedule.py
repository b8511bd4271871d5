"""When a nurture step may go out: send windows, quiet hours, caps and inactivity clocks.

Send windows and quiet hours are local wall-clock rules in the lead's IANA time zone.
An instant is *sendable* when the local clock at that instant reads a time inside the
window (``start <= t < end``) on one of the window's weekdays, and not inside quiet
hours. The rule is about what the clock reads, so across a DST change:

- a local time skipped by spring-forward never occurs; a window opening inside the
  gap opens at the jump (02:30 on the US spring-forward day means 03:00 EDT);
- a local time repeated by fall-back occurs twice; the first occurrence comes first,
  so a schedule reaching it from before gets the first one. An instant in the second
  pass whose clock reading is inside the window is sendable too.

A window's ``end`` of ``time(0)`` means 24:00. Windows do not wrap midnight (quiet
hours do: 21:00-08:00). Every function takes timezone-aware datetimes and returns UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Inactivity segments: one rule in shared (the router segments leads for reactivation by it
# too), re-exported here beside nurture's other clocks.
from shared.domain.inactivity import (
    UNDER_1_YEAR as UNDER_1_YEAR,
)
from shared.domain.inactivity import (
    UNDER_3_MONTHS as UNDER_3_MONTHS,
)
from shared.domain.inactivity import (
    Segment as Segment,
)
from shared.domain.inactivity import (
    inactivity_segment as inactivity_segment,
)
from shared.domain.zones import (
    first_instant,
    get_zone,
    to_utc,
    wall_clock,
)
from shared.domain.zones import (  # re-exported: nurture schedules the first contact
    trade_show_first_contact as trade_show_first_contact,
)

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
REMARKET_DAYS = range(30, 46)  # DESIGN behaviour 7: unresponsive for 30 to 45 days

_MIDNIGHT = time(0)
_ONE_DAY = timedelta(days=1)
_ONE_WEEK = timedelta(days=7)
_SEARCH_DAYS = 400  # a satisfiable window is met within days; this only guards odd zones
_TIME = re.compile(r"(\d{1,2}):(\d{2})")

# A span of the local day as offsets from midnight, half-open: [start, end).
_Span = tuple[timedelta, timedelta]


@dataclass(frozen=True)
class SendWindow:
    """Weekdays (Monday=0 .. Sunday=6) and local hours ``[start, end)`` a step may go out.

    ``end == time(0)`` means 24:00, so ``time(0)``-``time(0)`` is the whole day.
    """

    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        days = frozenset(self.days)
        if not days:
            raise ValueError("a send window needs at least one weekday")
        if not days <= frozenset(range(7)):
            raise ValueError(f"weekdays are 0 (Monday) .. 6 (Sunday), got {sorted(days)}")
        object.__setattr__(self, "days", days)
        _check_local("send window", self.start, self.end)
        if _offset(self.end, end=True) <= _offset(self.start):
            raise ValueError(
                f"send window {_fmt(self.start, self.end)} must end after it starts "
                "(windows do not wrap midnight; use quiet hours for nights)"
            )

    @classmethod
    def parse(cls, days: str, hours: str) -> SendWindow:
        """``("mon-fri", "09:00-17:00")``; days also as lists (``"mon,wed,fri"``), ranges
        may wrap (``"fri-mon"``), ``"daily"`` is every day; ``24:00`` ends at midnight."""
        start, end = _parse_span("send window hours", hours)
        if start is None:
            raise ValueError(f"send window hours {hours!r} cannot start at 24:00")
        return cls(_parse_days(days), start, _MIDNIGHT if end is None else end)

    def _span(self) -> _Span:
        return _offset(self.start), _offset(self.end, end=True)


@dataclass(frozen=True)
class QuietHours:
    """Local hours ``[start, end)`` nothing goes out; ``start > end`` wraps midnight
    (21:00-08:00 is 21:00 to 08:00 the next morning); ``end == time(0)`` is 24:00."""

    start: time
    end: time

    def __post_init__(self) -> None:
        _check_local("quiet hours", self.start, self.end)
        if self.start == self.end:
            raise ValueError(
                f"quiet hours {_fmt(self.start, self.end)} are empty or the whole day: "
                "give a start and an end that differ"
            )

    @classmethod
    def parse(cls, hours: str) -> QuietHours:
        """``"21:00-08:00"`` (wraps midnight) or ``"12:00-13:00"``; ``24:00`` as an end."""
        start, end = _parse_span("quiet hours", hours)
        if start is None:
            raise ValueError(f"quiet hours {hours!r} cannot start at 24:00")
        return cls(start, _MIDNIGHT if end is None else end)

    def contains(self, local_time: time) -> bool:
        """Whether a local wall-clock time falls in the quiet hours."""
        if local_time.tzinfo is not None:
            raise ValueError("quiet hours compare local wall-clock times, without tzinfo")
        at = _offset(local_time)
        return any(lo <= at < hi for lo, hi in self._spans())

    def _spans(self) -> tuple[_Span, ...]:
        start, end = _offset(self.start), _offset(self.end, end=True)
        if start < end:
            return ((start, end),)
        return ((start, _ONE_DAY), (timedelta(0), _offset(self.end)))


def next_send_at(
    earliest: datetime, tz: str, window: SendWindow, quiet: QuietHours | None = None
) -> datetime:
    """The first sendable instant (UTC) at or after ``earliest`` for a lead in ``tz``.

    ``earliest`` itself when sendable. Raises ValueError when nothing can ever be sent
    (the window lies wholly inside quiet hours) or ``tz`` is unknown.
    """
    at = to_utc(earliest)
    zone = get_zone(tz)
    spans = _sendable_spans(window, quiet)
    if not spans:
        raise ValueError(
            f"send window {_fmt(window.start, window.end)} lies wholly inside quiet hours "
            f"{_fmt(quiet.start, quiet.end) if quiet else ''}: no step could ever be sent"
        )
    if _sendable(at, zone, window.days, spans):
        return at
    # The first sendable instant after ``at`` is where sendability turns on: the clock
    # reaching the start of a span, or a DST change moving the clock into one. Gather
    # those instants day by day; a day's instants are never before its first instant.
    best: datetime | None = None
    first_day = wall_clock(at, zone).date() - _ONE_DAY  # a fall-back can move the clock back a day
    for day in _days_from(first_day):
        day_opens = first_instant(zone, datetime.combine(day, _MIDNIGHT))
        if best is not None and day_opens > best:
            return best
        if (day - first_day).days > _SEARCH_DAYS:
            break
        for candidate in _turn_on_candidates(zone, day, day_opens, window.days, spans):
            if (
                at < candidate
                and (best is None or candidate < best)
                and _sendable(candidate, zone, window.days, spans)
            ):
                best = candidate
    raise ValueError(f"no sendable instant within {_SEARCH_DAYS} days in {tz}")


def step_due_at(
    enrolled_at: datetime,
    delay: timedelta,
    tz: str,
    window: SendWindow,
    quiet: QuietHours | None = None,
) -> datetime:
    """When a step ``delay`` after enrolment goes out: the first sendable instant then."""
    if delay < timedelta(0):
        raise ValueError(f"a step delay cannot be negative, got {delay}")
    return next_send_at(to_utc(enrolled_at) + delay, tz, window, quiet)


def within_frequency_cap(
    sent_at: Sequence[datetime], candidate: datetime, max_per_week: int
) -> datetime:
    """The earliest instant (UTC) at or after ``candidate`` when one more step fits the cap.

    The cap counts the sends in the rolling week ending at the instant, ``(t - 7d, t]``:
    a send drops out exactly seven days after it went. The result is ``candidate`` when
    fewer than ``max_per_week`` sends fall in its week, else the moment enough of them
    age out. ``sent_at`` are the lead's past sends across all sequences; sends after the
    instant do not count against it.
    """
    if max_per_week < 1:
        raise ValueError(f"max_per_week must be >= 1, got {max_per_week}")
    sends = sorted(to_utc(s) for s in sent_at)
    at = to_utc(candidate)
    while True:
        in_week = [s for s in sends if at - _ONE_WEEK < s <= at]
        excess = len(in_week) - max_per_week + 1
        if excess <= 0:
            return at
        at = in_week[excess - 1] + _ONE_WEEK  # later sends may now count: look again


def remarket_due(
    last_engaged_at: datetime, enrolled_at: datetime, now: datetime, after_days: int
) -> bool:
    """Whether a lead has been unresponsive for ``after_days`` (30..45) and moves to remarket.

    The silence is counted from the later of its last engagement and its enrolment, so a
    lead that went quiet long ago is first given ``after_days`` of nurture. Due from the
    instant exactly ``after_days`` days have passed.
    """
    if after_days not in REMARKET_DAYS:
        raise ValueError(f"after_days must be between 30 and 45, got {after_days}")
    silent_since = max(to_utc(last_engaged_at), to_utc(enrolled_at))
    return to_utc(now) - silent_since >= timedelta(days=after_days)


# --- sendable instants ---


def _sendable_spans(window: SendWindow, quiet: QuietHours | None) -> tuple[_Span, ...]:
    """The window's local-day span with the quiet hours cut out."""
    spans = [window._span()]
    for q_lo, q_hi in quiet._spans() if quiet else ():
        spans = [
            piece
            for lo, hi in spans
            for piece in ((lo, min(hi, q_lo)), (max(lo, q_hi), hi))
            if piece[0] < piece[1]
        ]
    return tuple(sorted(spans))


def _sendable(at: datetime, zone: ZoneInfo, days: frozenset[int], spans: tuple[_Span, ...]) -> bool:
    local = wall_clock(at, zone)
    if local.weekday() not in days:
        return False
    clock = local - datetime.combine(local.date(), _MIDNIGHT)
    return any(lo <= clock < hi for lo, hi in spans)


def _turn_on_candidates(
    zone: ZoneInfo,
    day: date,
    day_opens: datetime,
    days: frozenset[int],
    spans: tuple[_Span, ...],
) -> Iterator[datetime]:
    """Instants on local ``day`` where sendability may turn on.

    The clock reading a span's start (each occurrence, when repeated), and any UTC
    offset change during the day: a jump forward over a span's start, or back into a span.
    """
    if day.weekday() in days:
        midnight = datetime.combine(day, _MIDNIGHT)
        for lo, _ in spans:
            yield from _occurrences(zone, midnight + lo)
    day_closes = first_instant(zone, datetime.combine(day + _ONE_DAY, _MIDNIGHT))
    change = _offset_change(zone, day_opens, day_closes)
    if change is not None:
        yield change


def _occurrences(zone: ZoneInfo, wall: datetime) -> Iterator[datetime]:
    """The instants (UTC) at which the clock reads ``wall``: none, one, or two."""
    seen: set[datetime] = set()
    for fold in (0, 1):
        at = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if at not in seen and wall_clock(at, zone) == wall:
            seen.add(at)
            yield at


def _offset_change(zone: ZoneInfo, lo: datetime, hi: datetime) -> datetime | None:
    """The first instant in ``(lo, hi]`` with a UTC offset other than at ``lo``, if any.

    Assumes at most one change between the two (true of a local day in tzdata).
    """
    before = lo.astimezone(zone).utcoffset()
    if hi.astimezone(zone).utcoffset() == before:
        return None
    lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp()) + 1  # offsets change on whole seconds
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == before:
            lo_s = mid
        else:
            hi_s = mid
    return datetime.fromtimestamp(hi_s, UTC)


def _days_from(day: date) -> Iterator[date]:
    while True:
        yield day
        day += _ONE_DAY


# --- values and parsing ---


def _offset(t: time, *, end: bool = False) -> timedelta:
    """``t`` as time since midnight; an ``end`` of midnight is 24:00."""
    if end and t == _MIDNIGHT:
        return _ONE_DAY
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond)


def _check_local(what: str, start: object, end: object) -> None:
    if not isinstance(start, time) or not isinstance(end, time):
        raise ValueError(f"{what}: start and end are datetime.time, got {(start, end)!r}")
    if start.tzinfo is not None or end.tzinfo is not None:
        raise ValueError(f"{what}: times are local wall-clock times, without tzinfo")


def _fmt(start: time, end: time) -> str:
    return f"{start:%H:%M}-{'24:00' if end == _MIDNIGHT else f'{end:%H:%M}'}"


def _parse_days(text: str) -> frozenset[int]:
    spec = text.strip().lower()
    if spec in ("daily", "every day"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in spec.split(","):
        names = [name.strip() for name in part.split("-")]
        if len(names) > 2 or any(name not in DAY_NAMES for name in names):
            raise ValueError(
                f"send window days {text!r}: {part.strip()!r} is not a day; use mon, tue, "
                "wed, thu, fri, sat, sun, ranges like mon-fri, lists like mon,wed or daily"
            )
        first, last = DAY_NAMES.index(names[0]), DAY_NAMES.index(names[-1])
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))  # fri-mon wraps
    return frozenset(days)


def _parse_span(what: str, text: str) -> tuple[time | None, time | None]:
    """``"HH:MM-HH:MM"`` as two times; None stands for 24:00."""
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"{what} {text!r} is not 'HH:MM-HH:MM'")
    start, end = (_parse_time(what, text, part) for part in parts)
    return start, end


def _parse_time(what: str, text: str, part: str) -> time | None:
    match = _TIME.fullmatch(part.strip())
    if match is None:
        raise ValueError(f"{what} {text!r}: {part.strip()!r} is not a time HH:MM")
    hour, minute = int(match[1]), int(match[2])
    if (hour, minute) == (24, 0):
        return None
    if hour > 23 or minute > 59:
        raise ValueError(f"{what} {text!r}: {part.strip()!r} is not a valid time")
    return time(hour, minute)
