"""Holiday calendars: the public holidays of a country (and subdivision), from the maintained
``holidays`` package, plus dates an admin adds.

A :class:`HolidayCalendar` is an immutable, hashable value (it sits inside
:class:`~services.router.domain.business_hours.WorkingHours`, a cache key). Public holidays
are computed once per (country, subdivision, year) and kept; a look-up is a dict access.
Names are English where the package has them. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, Literal

import holidays as holidays_package

Source = Literal["public", "added"]


@dataclass(frozen=True)
class Holiday:
    day: date
    name: str
    source: Source = "public"

    def to_dict(self) -> dict[str, str]:
        return {"date": self.day.isoformat(), "name": self.name}


@dataclass(frozen=True)
class HolidayCalendar:
    """Public holidays of ``country`` (ISO 3166-1 alpha-2) and ``subdivision`` (as the
    ``holidays`` package names them, e.g. DE + BE for Berlin, GB + ENG), plus ``added``
    dates. An added date wins over a public holiday on the same day (its name is shown)."""

    country: str | None = None
    subdivision: str | None = None
    added: tuple[Holiday, ...] = ()

    def __post_init__(self) -> None:
        check_region(self.country, self.subdivision)
        days: dict[date, str] = {}
        for holiday in self.added:
            if holiday.day in days:
                raise ValueError(f"holiday {holiday.day.isoformat()} is given more than once")
            if not holiday.name.strip():
                raise ValueError(f"holiday {holiday.day.isoformat()} needs a name")
            days[holiday.day] = holiday.name
        added = tuple(
            Holiday(day, name, "added") for day, name in sorted(days.items(), key=lambda i: i[0])
        )
        object.__setattr__(self, "added", added)
        object.__setattr__(self, "_added", days)
        # Routing hashes this value (inside WorkingHours) for every cached look-up.
        object.__setattr__(self, "_hash", hash((self.country, self.subdivision, added)))

    def __hash__(self) -> int:
        return self.__dict__["_hash"]  # type: ignore[no-any-return]

    @classmethod
    def of(
        cls,
        country: str | None,
        subdivision: str | None,
        added: Iterable[Mapping[str, Any]] = (),
    ) -> HolidayCalendar:
        """From stored values: ``added`` as ``[{"date": "YYYY-MM-DD", "name": "..."}]``."""
        return cls(
            country,
            subdivision,
            tuple(
                Holiday(
                    a["date"] if isinstance(a["date"], date) else date.fromisoformat(a["date"]),
                    a["name"],
                    "added",
                )
                for a in added
            ),
        )

    @property
    def region(self) -> str | None:
        """``DE-BE``, ``PT``; None without a country."""
        if self.country is None:
            return None
        return f"{self.country}-{self.subdivision}" if self.subdivision else self.country

    def get(self, day: date) -> Holiday | None:
        """The holiday on ``day`` (a local date), or None."""
        name = self.__dict__["_added"].get(day)
        if name is not None:
            return Holiday(day, name, "added")
        if self.country is None:
            return None
        name = _public_year(self.country, self.subdivision, day.year).get(day)
        return Holiday(day, name, "public") if name is not None else None

    def between(self, first: date, last: date) -> tuple[Holiday, ...]:
        """Holidays on the days ``first`` .. ``last`` (both included), in date order."""
        found = []
        day = first
        while day <= last:
            holiday = self.get(day)
            if holiday is not None:
                found.append(holiday)
            day += timedelta(days=1)
        return tuple(found)

    def in_year(self, year: int) -> tuple[Holiday, ...]:
        """Every holiday of ``year``, public and added (a day both are lists both), by date."""
        public = (
            [
                Holiday(d, n, "public")
                for d, n in _public_year(self.country, self.subdivision, year).items()
            ]
            if self.country is not None
            else []
        )
        added = [h for h in self.added if h.day.year == year]
        return tuple(sorted(public + added, key=lambda h: (h.day, h.source != "public")))


def check_region(country: str | None, subdivision: str | None) -> None:
    """Raise ValueError unless the ``holidays`` package knows this country and subdivision."""
    if country is None:
        if subdivision is not None:
            raise ValueError(f"subdivision {subdivision!r} needs a country")
        return
    supported = _supported()
    if country not in supported:
        raise ValueError(
            f"unknown holiday country {country!r}: use an ISO 3166-1 alpha-2 code the "
            "holidays package supports, e.g. DE, GB, US"
        )
    if subdivision is not None and subdivision not in supported[country]:
        known = ", ".join(supported[country]) or "none"
        raise ValueError(f"unknown subdivision {subdivision!r} of {country}: use one of {known}")


def canonical_country(country: str) -> str:
    """``country`` as the ``holidays`` package knows it (upper case); ValueError if unknown."""
    code = country.strip().upper()
    check_region(code, None)
    return code


def canonical_subdivision(country: str, subdivision: str) -> str:
    """``subdivision`` of ``country`` as the package spells it (matched ignoring case)."""
    known = _supported().get(country, ())
    folded = {s.casefold(): s for s in known}
    found = folded.get(subdivision.strip().casefold())
    if found is None:
        check_region(country, subdivision)  # raises with the list of known subdivisions
        return subdivision
    return found


@lru_cache(maxsize=1)
def _supported() -> dict[str, tuple[str, ...]]:
    return {c: tuple(s) for c, s in holidays_package.list_supported_countries().items()}


@lru_cache(maxsize=1024)
def _public_year(country: str | None, subdivision: str | None, year: int) -> dict[date, str]:
    if country is None:
        return {}
    calendar = holidays_package.country_holidays(
        country, subdiv=subdivision, years=year, language=_language(country)
    )
    return {day: name for day, name in sorted(calendar.items()) if day.year == year}


@lru_cache(maxsize=256)
def _language(country: str) -> str | None:
    """English names: the country's own English when it has one, else en_US if offered."""
    entity = getattr(holidays_package, country, None)
    default = getattr(entity, "default_language", None)
    if default is None or str(default).startswith("en"):
        return None
    return "en_US" if "en_US" in getattr(entity, "supported_languages", ()) else None
