"""Timer texts (``timeDate``, ``timeDuration``, ``timeCycle``) as BPMN and Camunda write them.

:func:`parse_timer` turns literal text (evaluate ``${…}``/``=…`` first) into a pure
:class:`Schedule`; the engine keeps the last fire time and the fire count, so parked
instances serialize. Datetimes going in must be tz-aware; those coming out are UTC.

* ``timeDate``: ``2027-01-01T09:00:00+08:00``, ``…Z``, ``2027-01-01`` (midnight). **Without
  an offset a date-time is read as UTC**, not as the bank's local time.
* ``timeDuration``: ``PT15M``, ``P1D``, ``P2W``, ``P1Y2M3DT4H5M6S``. Years, months, weeks and
  days are calendar units on the wall clock of ``tz`` (Jan 31 + ``P1M`` = Feb 28/29); hours,
  minutes and seconds are elapsed time.
* ``timeCycle``: ``R6/P1D``, ``R/PT1H`` (each fire a duration after the previous one, the
  first after the start); ``R3/<start>/P1D``, ``R/<start>/<end>`` (period end - start) and
  ``R/P1D/<end>`` (from end - duration, as SpiffWorkflow does), anchored: fire k is at
  anchor + k × period. Or cron, on the wall clock of ``tz``, each fire strictly after the
  previous: 6 fields (7 with a year) ``sec min hour day-of-month month day-of-week`` where
  ``cron="quartz"`` (Camunda 7) counts day-of-week 1 = SUN and needs ``?`` in one day field,
  ``cron="spring"`` (Zeebe) counts 0 or 7 = SUN and ANDs the day fields; or 5 Unix fields
  ``min hour dom month dow`` (0 or 7 = SUN; either day field may match). Items: ``*``,
  ``?``, ``1,15``, ``MON-FRI`` (``FRI-MON`` wraps), ``0/15``, ``*/5``, ``10-40/10``,
  ``JAN``-``DEC``, ``SUN``-``SAT``, day-of-month ``L``, ``L-3``, ``LW``, ``15W``,
  day-of-week ``6L`` (last), ``FRI#3``; macros ``@yearly @monthly @weekly @daily @hourly``.

``tz`` defaults to ``Asia/Shanghai`` (no DST). Where a zone has DST, cron times missing from
the wall clock are skipped and repeated ones fire once.
"""

from __future__ import annotations

import calendar
import re
from abc import ABC, abstractmethod
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = ["DEFAULT_TZ", "Schedule", "TimerSyntaxError", "parse_timer"]

DEFAULT_TZ = "Asia/Shanghai"
TimerKind = Literal["timeDate", "timeDuration", "timeCycle"]


class TimerSyntaxError(ValueError):
    """A timer text this engine does not understand; the message quotes it and says why."""


@dataclass(frozen=True)
class Duration:
    """An ISO 8601 duration: calendar part (years, months, days) and elapsed seconds."""

    years: int = 0
    months: int = 0
    days: float = 0
    seconds: float = 0

    def approx_seconds(self) -> float:
        return ((self.years * 12 + self.months) * 30.436875 + self.days) * 86400 + self.seconds

    def times(self, k: int) -> Duration:
        return Duration(self.years * k, self.months * k, self.days * k, self.seconds * k)

    def add_to(self, moment: datetime, tz: tzinfo) -> datetime:
        result = moment.astimezone(UTC)
        if self.years or self.months or self.days:
            wall = moment.astimezone(tz).replace(tzinfo=None)
            month_index = wall.year * 12 + wall.month - 1 + self.years * 12 + self.months
            year, month = divmod(month_index, 12)
            if not 1 <= year <= 9999:
                raise OverflowError("date out of range")
            day = min(wall.day, calendar.monthrange(year, month + 1)[1])
            wall = wall.replace(year=year, month=month + 1, day=day) + timedelta(days=self.days)
            result = wall.replace(tzinfo=tz).astimezone(UTC)
        return result + timedelta(seconds=self.seconds)


class Schedule(ABC):
    """When a timer fires. ``repetitions`` is how many times at most (None: without end)."""

    repetitions: int | None = 1

    @abstractmethod
    def first(self, start: datetime) -> datetime | None:
        """The first fire for a timer that starts waiting at ``start``; None if never."""

    @abstractmethod
    def following(self, previous: datetime, fired_count: int) -> datetime | None:
        """The fire after ``previous``, the last of ``fired_count`` fires; None when done."""

    def preview(self, start: datetime, limit: int = 10) -> list[datetime]:
        """Up to ``limit`` fire times from ``start`` (for tests and the modeler preview)."""
        fires: list[datetime] = []
        moment = self.first(start)
        while moment is not None and len(fires) < limit:
            fires.append(moment)
            moment = self.following(moment, len(fires))
        return fires


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} is naive; schedules need tz-aware datetimes")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class At(Schedule):
    """``timeDate``: once, at a fixed instant (at once if that instant has passed)."""

    moment: datetime

    def first(self, start: datetime) -> datetime | None:
        _aware(start)
        return self.moment

    def following(self, previous: datetime, fired_count: int) -> datetime | None:
        return None


@dataclass(frozen=True)
class Every(Schedule):
    """``timeDuration`` (once) and ``R[n]/duration``: each fire a duration after the last.

    Calendar units chain as Camunda 7 does: ``R/P1M`` from Jan 31 fires Feb 28, then Mar 28.
    """

    duration: Duration
    tz: tzinfo
    repetitions: int | None = None

    def first(self, start: datetime) -> datetime | None:
        return self.duration.add_to(_aware(start), self.tz)

    def following(self, previous: datetime, fired_count: int) -> datetime | None:
        if self.repetitions is not None and fired_count >= self.repetitions:
            return None
        return self.duration.add_to(_aware(previous), self.tz)


@dataclass(frozen=True)
class Anchored(Schedule):
    """``R[n]/start/duration`` and kin: fire k is at ``anchor + k × duration``, k from 0.

    Fires before the timer starts waiting are skipped but still count towards ``n`` (as in
    Camunda 7), so ``fired_count`` is not needed: the position follows from the time.
    """

    anchor: datetime
    duration: Duration
    tz: tzinfo
    repetitions: int | None = None

    def fire(self, k: int) -> datetime:
        return self.duration.times(k).add_to(self.anchor, self.tz)

    def _at_or_after(self, moment: datetime, strict: bool) -> datetime | None:
        def late(k: int) -> bool:
            fire = self.fire(k)
            return fire > moment or (not strict and fire == moment)

        k = 0
        if moment >= self.anchor:
            elapsed = (moment - self.anchor).total_seconds()
            k = max(0, int(elapsed // self.duration.approx_seconds()) - 2)
            while k > 0 and late(k - 1):
                k -= 1
            while not late(k):
                k += 1
        if self.repetitions is not None and k >= self.repetitions:
            return None
        return self.fire(k)

    def first(self, start: datetime) -> datetime | None:
        return self._at_or_after(_aware(start), strict=False)

    def following(self, previous: datetime, fired_count: int) -> datetime | None:
        return self._at_or_after(_aware(previous), strict=True)


@dataclass(frozen=True)
class Cron(Schedule):
    """A cron expression on the wall clock of ``tz``: fires at every matching second."""

    spec: CronSpec
    tz: tzinfo
    repetitions: int | None = None

    def first(self, start: datetime) -> datetime | None:
        return self.following(start, 0)

    def following(self, previous: datetime, fired_count: int) -> datetime | None:
        moment = _aware(previous)
        wall = moment.astimezone(self.tz).replace(tzinfo=None)
        while True:
            found = self.spec.next_after(wall)
            if found is None:
                return None
            local = found.replace(tzinfo=self.tz)
            exists = local.astimezone(UTC).astimezone(self.tz).replace(tzinfo=None) == found
            if exists and local.astimezone(UTC) > moment:
                return local.astimezone(UTC)
            wall = found


_NUM = r"(\d+(?:[.,]\d+)?)"
_DURATION = re.compile(
    rf"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:{_NUM}D)?(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?"
)
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?(?:Z|[+-]\S+)?")


def _number(text: str | None) -> float:
    return float(text.replace(",", ".")) if text else 0.0


def parse_duration(text: str) -> Duration:
    """An ISO 8601 duration, case-insensitive; fractions (``PT1.5H``) only from days down."""
    upper = text.strip().upper()
    match = _DURATION.fullmatch(upper)
    if not match or upper in ("P", "PT") or upper.endswith("T"):
        raise TimerSyntaxError(f"{text!r} is not an ISO 8601 duration (e.g. PT15M, P1D, P2W)")
    years, months, weeks, days, hours, minutes, seconds = match.groups()
    return Duration(
        years=int(years or 0),
        months=int(months or 0),
        days=int(weeks or 0) * 7 + _number(days),
        seconds=_number(hours) * 3600 + _number(minutes) * 60 + _number(seconds),
    )


def parse_date_time(text: str) -> datetime:
    """An ISO 8601 date or date-time; no offset means UTC, a plain date means midnight UTC."""
    stripped = text.strip().upper()
    if not _DATE_TIME.fullmatch(stripped):
        raise TimerSyntaxError(f"{text!r} is not an ISO 8601 date-time (2027-01-01T09:00:00Z)")
    try:
        if "T" not in stripped:
            parsed = datetime.combine(date.fromisoformat(stripped), time())
        else:
            parsed = datetime.fromisoformat(stripped.replace(",", "."))
    except ValueError as exc:
        raise TimerSyntaxError(f"{text!r} is not a valid date-time: {exc}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _is_duration(part: str) -> bool:
    return part.strip().upper().startswith("P")


def _cycle(text: str, tz: tzinfo) -> Schedule:
    head, *rest = (part.strip() for part in text.split("/"))
    if not re.fullmatch(r"R\d*", head.upper()) or len(rest) not in (1, 2):
        raise TimerSyntaxError(
            "expected R[n]/duration, R[n]/start/duration, R[n]/start/end, "
            "R[n]/duration/end or a cron expression"
        )
    repetitions = int(head[1:]) if head[1:] else None
    if repetitions == 0:
        raise TimerSyntaxError("R0 never fires")
    anchor: datetime | None = None
    if len(rest) == 1:
        duration = parse_duration(rest[0])
    elif _is_duration(rest[1]):
        duration, anchor = parse_duration(rest[1]), parse_date_time(rest[0])
    elif _is_duration(rest[0]):
        duration = parse_duration(rest[0])
        anchor = duration.times(-1).add_to(parse_date_time(rest[1]), tz)
    else:
        anchor = parse_date_time(rest[0])
        duration = Duration(seconds=(parse_date_time(rest[1]) - anchor).total_seconds())
    if duration.approx_seconds() <= 0:
        raise TimerSyntaxError("the period must be longer than zero")
    if anchor is None:
        return Every(duration, tz, repetitions)
    return Anchored(anchor, duration, tz, repetitions)


_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MACROS = {
    "@YEARLY": "0 0 1 1 *",
    "@MONTHLY": "0 0 1 * *",
    "@WEEKLY": "0 0 * * 0",
    "@DAILY": "0 0 * * *",
    "@HOURLY": "0 * * * *",
}
#: A day rule: ("day", n, _), ("last", offset, _), ("nearest", n or 0 for last, _),
#: ("weekday", wd, _), ("last-weekday", wd, _), ("nth-weekday", wd, n); wd: Monday = 0.
DayRule = tuple[str, int, int]


@dataclass(frozen=True)
class CronSpec:
    """A parsed cron expression; ``dom``/``dow`` are None when unrestricted."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: frozenset[int] | None
    dom: tuple[DayRule, ...] | None
    dow: tuple[DayRule, ...] | None
    either_day: bool  # Unix: either day field may match when both are restricted

    def days(self, year: int, month: int) -> list[int]:
        length = calendar.monthrange(year, month)[1]

        def matches(rule: DayRule, day: int) -> bool:
            kind, a, b = rule
            weekday = calendar.weekday(year, month, day)
            if kind == "nearest":
                target = a or length
                return target <= length and day == _nearest_weekday(year, month, target, length)
            return {
                "day": day == a,
                "last": day == length - a,
                "weekday": weekday == a,
                "last-weekday": weekday == a and day + 7 > length,
                "nth-weekday": weekday == a and (day - 1) // 7 + 1 == b,
            }[kind]

        either = self.either_day and self.dom is not None and self.dow is not None
        found = []
        for day in range(1, length + 1):
            by_dom = self.dom is None or any(matches(rule, day) for rule in self.dom)
            by_dow = self.dow is None or any(matches(rule, day) for rule in self.dow)
            if (by_dom or by_dow) if either else (by_dom and by_dow):
                found.append(day)
        return found

    def _time(self, earliest: time) -> time | None:
        for hour in self.hours[bisect_left(self.hours, earliest.hour) :]:
            same_hour = hour == earliest.hour
            low_minute = earliest.minute if same_hour else 0
            for minute in self.minutes[bisect_left(self.minutes, low_minute) :]:
                low = earliest.second if same_hour and minute == earliest.minute else 0
                index = bisect_left(self.seconds, low)
                if index < len(self.seconds):
                    return time(hour, minute, self.seconds[index])
        return None

    def next_after(self, wall: datetime) -> datetime | None:
        """The first matching wall-clock second after ``wall`` (naive), within 40 years."""
        t = wall.replace(microsecond=0) + timedelta(seconds=1)
        last_year = max(self.years) if self.years else t.year + 40
        for year in range(t.year, min(last_year, 9999) + 1):
            if self.years is not None and year not in self.years:
                continue
            for month in self.months:
                if (year, month) < (t.year, t.month):
                    continue
                for day in self.days(year, month):
                    moment = date(year, month, day)
                    if moment < t.date():
                        continue
                    found = self._time(t.time() if moment == t.date() else time())
                    if found is not None:
                        return datetime.combine(moment, found)
        return None


def _nearest_weekday(year: int, month: int, day: int, length: int) -> int:
    weekday = calendar.weekday(year, month, day)
    if weekday == 5:
        return day - 1 if day > 1 else day + 2
    if weekday == 6:
        return day + 1 if day < length else day - 2
    return day


def _values(text: str, what: str, low: int, high: int, names: dict[str, int]) -> list[int]:
    def number(token: str) -> int:
        if token in names:
            return names[token]
        if not token.isdigit():
            raise TimerSyntaxError(f"{what} {token!r} is not a number or name")
        if not low <= int(token) <= high:
            raise TimerSyntaxError(f"{what} {token} is out of range {low}-{high}")
        return int(token)

    found: set[int] = set()
    for item in text.upper().split(","):
        base, slash, step_text = item.partition("/")
        if slash and not (step_text.isdigit() and int(step_text) > 0):
            raise TimerSyntaxError(f"{what} step {step_text!r} is not a positive number")
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = number(first), number(last)
        else:
            start = number(base)
            end = high if slash else start
        span = list(range(start, end + 1))
        if start > end:  # wraps, e.g. FRI-MON
            span = [*range(start, high + 1), *range(low, end + 1)]
        found.update(span[:: int(step_text) if slash else 1])
    return sorted(found)


def _one(text: str, what: str, low: int, high: int, names: dict[str, int]) -> int:
    if not (text.upper() in names or text.isdigit()):
        raise TimerSyntaxError(f"{what} {text!r} must be a single day")
    return _values(text, what, low, high, names)[0]


def parse_cron(text: str, dialect: Literal["quartz", "spring"] = "quartz") -> CronSpec:
    """A cron expression (see the module docstring); raises :class:`TimerSyntaxError`."""
    fields = _MACROS.get(text.strip().upper(), text).split()
    if len(fields) not in (5, 6, 7):
        raise TimerSyntaxError(
            "expected 6 fields (sec min hour day-of-month month day-of-week), 7 with a year, "
            f"5 Unix fields, or one of {', '.join(_MACROS).lower()}"
        )
    unix = len(fields) == 5
    sec, minute, hour, dom, month, dow, *year = ["0", *fields] if unix else fields
    quartz = dialect == "quartz" and not unix
    low = int(quartz)  # Quartz: SUN = 1 … SAT = 7; Spring and Unix: SUN = 0 (and 7)
    names = {name: i + low for i, name in enumerate(_DAYS)}
    dom_rules: list[DayRule] = []
    for item in dom.upper().split(","):
        if match := re.fullmatch(r"L(?:-(\d+))?", item):
            dom_rules.append(("last", int(match.group(1) or 0), 0))
        elif item.endswith("W"):
            day = 0 if item == "LW" else _one(item[:-1], "day-of-month", 1, 31, {})
            dom_rules.append(("nearest", day, 0))
        else:
            days = _values(item, "day-of-month", 1, 31, {})
            dom_rules.extend(("day", n, 0) for n in days)
    dow_rules: list[DayRule] = []
    for item in dow.upper().split(","):
        day_text, hash_sign, nth = item.partition("#")
        if len(item) > 1 and item.endswith("L"):
            weekday = (_one(item[:-1], "day-of-week", low, 7, names) - low - 1) % 7
            dow_rules.append(("last-weekday", weekday, 0))
        elif hash_sign:
            weekday = (_one(day_text, "day-of-week", low, 7, names) - low - 1) % 7
            if nth not in ("1", "2", "3", "4", "5"):
                raise TimerSyntaxError(f"day-of-week {item!r}: # takes 1 to 5")
            dow_rules.append(("nth-weekday", weekday, int(nth)))
        else:
            days = _values(item, "day-of-week", low, 7, names)
            dow_rules.extend(("weekday", (n - low - 1) % 7, 0) for n in days)
    if quartz and dom not in ("*", "?") and dow not in ("*", "?"):
        raise TimerSyntaxError("day-of-month and day-of-week both restricted: write ? in one")
    spec = CronSpec(
        seconds=tuple(_values(sec, "second", 0, 59, {})),
        minutes=tuple(_values(minute, "minute", 0, 59, {})),
        hours=tuple(_values(hour, "hour", 0, 23, {})),
        months=tuple(_values(month, "month", 1, 12, _MONTHS)),
        years=frozenset(_values(year[0], "year", 1970, 2199, {})) if year else None,
        dom=None if dom in ("*", "?") else tuple(dom_rules),
        dow=None if dow in ("*", "?") else tuple(dow_rules),
        either_day=unix,
    )
    since = datetime(min(spec.years) - 1, 12, 31) if spec.years else datetime(2000, 1, 1)
    if spec.next_after(since) is None:
        raise TimerSyntaxError("never fires")
    return spec


def parse_timer(
    kind: TimerKind,
    text: str,
    *,
    tz: tzinfo | str = DEFAULT_TZ,
    cron: Literal["quartz", "spring"] = "quartz",
) -> Schedule:
    """The :class:`Schedule` of a timer's literal text; see the module docstring for forms.

    ``tz`` (default ``Asia/Shanghai``) is the wall clock for cron fields and calendar units
    of durations; ``cron`` selects the 6-field dialect: ``"quartz"`` for Camunda 7
    diagrams, ``"spring"`` for Zeebe ones. Raises :class:`TimerSyntaxError`.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    stripped = (text or "").strip()
    if not stripped:
        raise TimerSyntaxError(f"empty {kind}")
    try:
        if kind == "timeDate":
            return At(parse_date_time(stripped))
        if kind == "timeDuration":
            return Every(parse_duration(stripped), zone, 1)
        if kind != "timeCycle":
            raise TimerSyntaxError("unknown timer kind")
        if stripped.startswith("@") or len(stripped.split()) >= 5:
            return Cron(parse_cron(stripped, cron), zone)
        if _is_duration(stripped):
            raise TimerSyntaxError(f"a cycle repeats: R/{stripped} (forever) or R3/{stripped}")
        return _cycle(stripped, zone)
    except TimerSyntaxError as exc:
        raise TimerSyntaxError(f"{kind} {stripped!r}: {exc}") from None
    except OverflowError:
        raise TimerSyntaxError(f"{kind} {stripped!r}: date out of range") from None
