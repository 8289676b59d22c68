"""Timer texts: every form the standard, Camunda 7 (Quartz) and Zeebe (Spring) write."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo

import pytest

from loanflow.engine.bpmn.schedules import Schedule, TimerSyntaxError, parse_timer

CST = timezone(timedelta(hours=8))
START = datetime(2027, 1, 1, tzinfo=UTC)  # Fri 2027-01-01 08:00 in Shanghai


def cst(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=CST).astimezone(UTC)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def cycle(text: str, **kwargs: str) -> Schedule:
    return parse_timer("timeCycle", text, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-01-01T09:00:00+08:00", utc(2027, 1, 1, 1)),
        ("2027-01-01T09:00:00Z", utc(2027, 1, 1, 9)),
        ("2027-01-01T09:00:00", utc(2027, 1, 1, 9)),  # no offset: UTC
        ("2027-01-01T09:00Z", utc(2027, 1, 1, 9)),
        ("2027-01-01T09:00:00.5-05:00", utc(2027, 1, 1, 14) + timedelta(milliseconds=500)),
        ("2027-03-15", utc(2027, 3, 15)),
        ("  2027-03-15  ", utc(2027, 3, 15)),
        ("2027-01-01t09:00:00z", utc(2027, 1, 1, 9)),
    ],
)
def test_time_date(text: str, expected: datetime) -> None:
    schedule = parse_timer("timeDate", text)
    assert schedule.first(START) == expected
    assert schedule.first(START).tzinfo is UTC  # type: ignore[union-attr]
    assert schedule.following(expected, 1) is None
    assert schedule.repetitions == 1


def test_time_date_in_the_past_fires_at_once() -> None:
    assert parse_timer("timeDate", "2020-01-01").preview(START) == [utc(2020, 1, 1)]


@pytest.mark.parametrize(
    ("text", "start", "expected"),
    [
        ("PT15M", START, START + timedelta(minutes=15)),
        ("pt15m", START, START + timedelta(minutes=15)),
        ("PT1.5H", START, START + timedelta(minutes=90)),
        ("PT0,5S", START, START + timedelta(milliseconds=500)),
        ("P1D", START, START + timedelta(days=1)),
        ("P2W", START, START + timedelta(days=14)),
        ("P1Y2M3DT4H5M6S", cst(2027, 1, 1), cst(2028, 3, 4, 4, 5, 6)),
        ("P1M", cst(2027, 1, 31, 10), cst(2027, 2, 28, 10)),
        ("P1M", cst(2028, 1, 31, 10), cst(2028, 2, 29, 10)),
        # 03:00 in Shanghai is still Jan 30 in UTC: the month is counted on the bank's clock
        ("P1M", cst(2027, 1, 31, 3), cst(2027, 2, 28, 3)),
        ("P1Y", cst(2028, 2, 29), cst(2029, 2, 28)),
        ("P1M", cst(2027, 3, 31), cst(2027, 4, 30)),
        ("PT0S", START, START),
    ],
)
def test_time_duration(text: str, start: datetime, expected: datetime) -> None:
    schedule = parse_timer("timeDuration", text)
    assert schedule.first(start) == expected
    assert schedule.following(expected, 1) is None
    assert schedule.preview(start) == [expected]


def test_calendar_units_follow_the_given_zone() -> None:
    start = utc(2027, 1, 30, 19)  # Jan 31 03:00 in Shanghai, Jan 30 19:00 in UTC
    assert parse_timer("timeDuration", "P1M").first(start) == utc(2027, 2, 27, 19)
    assert parse_timer("timeDuration", "P1M", tz="UTC").first(start) == utc(2027, 2, 28, 19)


@pytest.mark.parametrize(
    ("text", "count", "fires"),
    [
        ("R3/PT1H", 3, [START + timedelta(hours=h) for h in (1, 2, 3)]),
        ("r2/p1d", 2, [START + timedelta(days=d) for d in (1, 2)]),
        ("R/PT1H", None, [START + timedelta(hours=h) for h in range(1, 11)]),
        ("R/P1M", None, None),
        ("R3/2027-01-01T09:00:00Z/P1D", 3, [utc(2027, 1, d, 9) for d in (1, 2, 3)]),
        ("R/2027-01-01T00:00:00Z/2027-01-01T06:00:00Z", None, None),
        ("R2/P1D/2027-01-05T00:00:00Z", 2, [utc(2027, 1, 4), utc(2027, 1, 5)]),
    ],
)
def test_repeating_interval_counts(
    text: str, count: int | None, fires: list[datetime] | None
) -> None:
    schedule = cycle(text)
    assert schedule.repetitions == count
    if fires is not None:
        assert schedule.preview(START, limit=10) == fires


def test_unbounded_cycles() -> None:
    assert cycle("R/2027-01-01T00:00:00Z/2027-01-01T06:00:00Z").preview(START, 3) == [
        utc(2027, 1, 1, 0),
        utc(2027, 1, 1, 6),
        utc(2027, 1, 1, 12),
    ]
    # chained from the previous fire, as Camunda 7 does: the 31st is not restored
    assert cycle("R/P1M").preview(cst(2027, 1, 31, 9), 3) == [
        cst(2027, 2, 28, 9),
        cst(2027, 3, 28, 9),
        cst(2027, 4, 28, 9),
    ]


def test_anchored_cycle_counts_from_its_anchor() -> None:
    schedule = cycle("R/2027-01-31T09:00:00+08:00/P1M")
    assert schedule.preview(START, 4) == [
        cst(2027, 1, 31, 9),
        cst(2027, 2, 28, 9),
        cst(2027, 3, 31, 9),
        cst(2027, 4, 30, 9),
    ]
    # far from the anchor, found without walking every month
    assert schedule.first(cst(2050, 6, 5)) == cst(2050, 6, 30, 9)
    assert schedule.following(cst(2050, 6, 30, 9), 999) == cst(2050, 7, 31, 9)


def test_anchored_cycle_skips_missed_fires_and_counts_them() -> None:
    schedule = cycle("R3/2026-12-30T00:00:00Z/P1D")
    assert schedule.preview(START) == [utc(2027, 1, 1)]
    assert cycle("R3/2026-12-01T00:00:00Z/P1D").first(START) is None


@pytest.mark.parametrize(
    ("text", "fires"),
    [
        ("0 0 9 * * ?", [cst(2027, 1, d, 9) for d in (1, 2, 3)]),
        ("0 0 9 ? * MON-FRI", [cst(2027, 1, d, 9) for d in (1, 4, 5)]),
        ("0 0 9 ? * 2-6", [cst(2027, 1, d, 9) for d in (1, 4, 5)]),  # Quartz: 2 = MON
        ("0 0/15 9 * * ?", [cst(2027, 1, 1, 9, m) for m in (0, 15, 30)]),
        ("0 */20 9-10 * * ?", [cst(2027, 1, 1, 9, m) for m in (0, 20, 40)]),
        ("0 10-40/10 9 * * ?", [cst(2027, 1, 1, 9, m) for m in (10, 20, 30)]),
        ("0 0 9 1,15 * ?", [cst(2027, 1, 1, 9), cst(2027, 1, 15, 9), cst(2027, 2, 1, 9)]),
        ("0 0 9 L * ?", [cst(2027, 1, 31, 9), cst(2027, 2, 28, 9), cst(2027, 3, 31, 9)]),
        ("0 0 9 L-1 * ?", [cst(2027, 1, 30, 9), cst(2027, 2, 27, 9), cst(2027, 3, 30, 9)]),
        ("0 0 9 31 * ?", [cst(2027, 1, 31, 9), cst(2027, 3, 31, 9), cst(2027, 5, 31, 9)]),
        ("0 0 9 29 2 ?", [cst(2028, 2, 29, 9), cst(2032, 2, 29, 9), cst(2036, 2, 29, 9)]),
        ("0 0 9 LW * ?", [cst(2027, 1, 29, 9), cst(2027, 2, 26, 9), cst(2027, 3, 31, 9)]),
        ("0 0 9 1W * ?", [cst(2027, 1, 1, 9), cst(2027, 2, 1, 9), cst(2027, 3, 1, 9)]),
        ("0 0 9 ? * 6L", [cst(2027, 1, 29, 9), cst(2027, 2, 26, 9), cst(2027, 3, 26, 9)]),
        ("0 0 9 ? * FRI#3", [cst(2027, 1, 15, 9), cst(2027, 2, 19, 9), cst(2027, 3, 19, 9)]),
        ("0 0 9 ? JAN,MAR *", None),
        ("0 0 9 ? * FRI-MON", [cst(2027, 1, d, 9) for d in (1, 2, 3)]),
        ("0 0 0 1 1 ? 2029", [cst(2029, 1, 1)]),
        ("0 9 * * 1-5", [cst(2027, 1, d, 9) for d in (1, 4, 5)]),  # Unix: 1 = MON
        ("0 9 * * 0", [cst(2027, 1, d, 9) for d in (3, 10, 17)]),
        ("0 9 * * 7", [cst(2027, 1, d, 9) for d in (3, 10, 17)]),
        ("0 9 13 * 5", [cst(2027, 1, d, 9) for d in (1, 8, 13)]),  # Unix: either day field
        ("@daily", [cst(2027, 1, 2), cst(2027, 1, 3), cst(2027, 1, 4)]),
        ("@monthly", [cst(2027, 2, 1), cst(2027, 3, 1), cst(2027, 4, 1)]),
    ],
)
def test_cron_in_shanghai(text: str, fires: list[datetime] | None) -> None:
    schedule = cycle(text)
    assert schedule.repetitions is None
    if fires is not None:
        assert schedule.preview(START, len(fires)) == fires


def test_cron_month_names_and_year_rollover() -> None:
    assert cycle("0 0 9 ? JAN,MAR *").preview(cst(2027, 3, 31, 10), 2) == [
        cst(2028, 1, 1, 9),
        cst(2028, 1, 2, 9),
    ]


def test_cron_fires_strictly_after() -> None:
    schedule = cycle("0 0 9 * * ?")
    assert schedule.first(cst(2027, 1, 1, 9)) == cst(2027, 1, 2, 9)
    assert schedule.first(cst(2027, 1, 1, 8, 59, 59, 999999)) == cst(2027, 1, 1, 9)
    assert schedule.following(cst(2027, 1, 31, 9), 30) == cst(2027, 2, 1, 9)


def test_spring_dialect_counts_days_from_sunday_zero() -> None:
    quartz = cycle("0 0 9 ? * 2-6")
    spring = cycle("0 0 9 ? * 2-6", cron="spring")
    assert [d.astimezone(CST).day for d in quartz.preview(START, 3)] == [1, 4, 5]  # MON-FRI
    assert [d.astimezone(CST).day for d in spring.preview(START, 3)] == [1, 2, 5]  # TUE-SAT
    both = cycle("0 0 9 13 * FRI", cron="spring")  # Friday the 13th
    assert both.preview(START, 2) == [cst(2027, 8, 13, 9), cst(2028, 10, 13, 9)]


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Asia/Urumqi", "UTC"])
def test_cron_in_dst_free_zones(zone: str) -> None:
    schedule = cycle("0 30 9 L * ?", tz=zone)
    fires = schedule.preview(START, 13)
    local = [f.astimezone(ZoneInfo(zone)) for f in fires]
    assert all((f.hour, f.minute) == (9, 30) for f in local)
    assert [f.day for f in local][:3] == [31, 28, 31]
    assert all(b - a >= timedelta(days=28) for a, b in pairwise(fires))


def test_cron_across_dst() -> None:
    spring_forward = cycle("0 30 2 * * ?", tz="America/New_York")
    # 2027-03-14 02:30 does not exist in New York: skipped
    assert spring_forward.preview(utc(2027, 3, 13), 2) == [
        utc(2027, 3, 13, 7, 30),
        utc(2027, 3, 15, 6, 30),
    ]
    fall_back = cycle("0 30 1 * * ?", tz="America/New_York")
    # 2027-11-07 01:30 happens twice: fires once
    assert fall_back.preview(utc(2027, 11, 7), 2) == [
        utc(2027, 11, 7, 5, 30),
        utc(2027, 11, 8, 6, 30),
    ]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        parse_timer("timeDuration", "PT1M").first(datetime(2027, 1, 1))


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("timeCycle", "R6/P1X", "'P1X' is not an ISO 8601 duration"),
        ("timeCycle", "0 0 25 * * ?", "hour 25 is out of range 0-23"),
        ("timeCycle", "61 0 9 * * ?", "second 61 is out of range"),
        ("timeCycle", "0 0 9 32 * ?", "day-of-month 32 is out of range"),
        ("timeCycle", "0 0 9 ? 13 *", "month 13 is out of range"),
        ("timeCycle", "0 0 9 ? * 8", "day-of-week 8 is out of range 1-7"),
        ("timeCycle", "0 0 9 ? * 0", "day-of-week 0 is out of range 1-7"),
        ("timeCycle", "0 0 9 ? * FUNDAY", "'FUNDAY' is not a number or name"),
        ("timeCycle", "0 0/0 9 * * ?", "step '0' is not a positive number"),
        ("timeCycle", "0 0 9 1 * MON", "both restricted"),
        ("timeCycle", "0 0 9 30 2 ?", "never fires"),
        ("timeCycle", "0 0 9 * *  * * *", "expected 6 fields"),
        ("timeCycle", "@fortnightly", "expected 6 fields"),
        ("timeCycle", "0 0 9 ? * FRI#6", "# takes 1 to 5"),
        ("timeCycle", "PT1H", "R/PT1H"),
        ("timeCycle", "R0/PT1H", "R0 never fires"),
        ("timeCycle", "R/PT0S", "longer than zero"),
        ("timeCycle", "R/2027-01-02T00:00:00Z/2027-01-01T00:00:00Z", "longer than zero"),
        ("timeCycle", "R/P1D/P1M", "not an ISO 8601 date-time"),
        ("timeCycle", "R3", "expected R[n]/duration"),
        ("timeCycle", "X3/PT1H", "expected R[n]/duration"),
        ("timeCycle", "", "empty timeCycle"),
        ("timeDuration", "   ", "empty timeDuration"),
        ("timeDuration", "P", "not an ISO 8601 duration"),
        ("timeDuration", "PT", "not an ISO 8601 duration"),
        ("timeDuration", "P1DT", "not an ISO 8601 duration"),
        ("timeDuration", "P1.5M", "not an ISO 8601 duration"),
        ("timeDuration", "-P1D", "not an ISO 8601 duration"),
        ("timeDuration", "15 minutes", "not an ISO 8601 duration"),
        ("timeDate", "tomorrow", "not an ISO 8601 date-time"),
        ("timeDate", "2027-02-30", "not a valid date-time"),
        ("timeDate", "2027-01-01T25:00:00Z", "not a valid date-time"),
        ("timeDate", "PT1H", "not an ISO 8601 date-time"),
    ],
)
def test_errors(
    kind: Literal["timeDate", "timeDuration", "timeCycle"], text: str, message: str
) -> None:
    with pytest.raises(TimerSyntaxError, match=re.escape(message)) as caught:
        parse_timer(kind, text)
    assert kind in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_errors_quote_the_text() -> None:
    with pytest.raises(TimerSyntaxError) as caught:
        parse_timer("timeCycle", "0 0 25 * * ?")
    assert str(caught.value) == "timeCycle '0 0 25 * * ?': hour 25 is out of range 0-23"
