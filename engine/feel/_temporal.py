"""Dates, times and durations as FEEL sees them, on top of ``datetime``.

Days-time durations are ``timedelta``; years-months durations need their own type because a
month has no fixed length, so ``date("2024-01-31") + duration("P1M")`` clamps to the end of
February instead of adding 30 days. Parsers return None for text FEEL would call invalid, which
the builtins pass on as null.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final

__all__ = [
    "YearsMonthsDuration",
    "add_months",
    "duration_part",
    "format_duration",
    "parse_date",
    "parse_datetime",
    "parse_duration",
    "parse_time",
]

_DATE_RE: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DURATION_RE: Final = re.compile(
    r"(-)?P(?:(\d{1,9})Y)?(?:(\d{1,9})M)?(?:(\d{1,9})D)?"
    r"(?:T(?:(\d{1,9})H)?(?:(\d{1,9})M)?(?:(\d{1,9}(?:\.\d{1,9})?)S)?)?"
)


@dataclass(frozen=True, slots=True)
class YearsMonthsDuration:
    """A FEEL years-and-months duration, kept as a signed number of months."""

    months: int

    def __str__(self) -> str:
        return format_duration(self)


def parse_date(text: str) -> date | None:
    match = _DATE_RE.fullmatch(text)
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def parse_time(text: str) -> time | None:
    if not text[:1].isdigit():
        return None
    try:
        return time.fromisoformat(text)
    except ValueError:
        return None


def parse_datetime(text: str) -> datetime | None:
    if "T" not in text:
        day = parse_date(text)
        return None if day is None else datetime(day.year, day.month, day.day)
    day = parse_date(text.split("T", 1)[0])
    if day is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_duration(text: str) -> timedelta | YearsMonthsDuration | None:
    match = _DURATION_RE.fullmatch(text)
    if match is None or text.endswith(("P", "T")):
        return None
    sign = -1 if match[1] else 1
    years, months, days, hours, minutes, seconds = (match[k] for k in range(2, 8))
    if years or months:
        if days or hours or minutes or seconds:
            return None
        return YearsMonthsDuration(sign * (int(years or 0) * 12 + int(months or 0)))
    try:
        delta = timedelta(
            days=int(days or 0),
            hours=int(hours or 0),
            minutes=int(minutes or 0),
            seconds=float(seconds or 0),
        )
    except OverflowError:
        return None
    return -delta if sign < 0 else delta


def format_duration(value: timedelta | YearsMonthsDuration) -> str:
    if isinstance(value, YearsMonthsDuration):
        sign = "-" if value.months < 0 else ""
        years, months = divmod(abs(value.months), 12)
        body = (f"{years}Y" if years else "") + (f"{months}M" if months or not years else "")
        return f"{sign}P{body}"
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    day_part = f"{value.days}D" if value.days else ""
    secs = f"{seconds}.{value.microseconds:06d}".rstrip("0") if value.microseconds else str(seconds)
    time_part = (
        (f"{hours}H" if hours else "")
        + (f"{minutes}M" if minutes else "")
        + (f"{secs}S" if seconds or value.microseconds else "")
    )
    if not day_part and not time_part:
        return "PT0S"
    return f"{sign}P{day_part}" + (f"T{time_part}" if time_part else "")


def add_months(day: date, months: int) -> date:
    """Add calendar months, clamping the day: January 31 plus one month is February's last."""
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    last = calendar.monthrange(year, month + 1)[1] if 1 <= year <= 9999 else 31
    return day.replace(year=year, month=month + 1, day=min(day.day, last))


def duration_part(value: timedelta, unit: str) -> int:
    """Component of a days-time duration, signed like the duration (FEEL ``d.hours``)."""
    sign = -1 if value < timedelta(0) else 1
    value = abs(value)
    parts = {
        "days": value.days,
        "hours": value.seconds // 3600,
        "minutes": value.seconds // 60 % 60,
        "seconds": value.seconds % 60,
    }
    return sign * parts[unit]
