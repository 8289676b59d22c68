"""Checking a PRC resident identity number (GB 11643-1999) without calling anyone.

An 18-character number is: 6 digits of region (the first two a province), 8 digits of
birth date (YYYYMMDD), 3 digits of sequence (odd for men, even for women) and a check
digit, the ISO 7064 MOD 11-2 checksum of the first 17 (``X`` stands for 10).

These checks catch typos and invented numbers, not a real number used by someone else:
that needs the issuing authority, behind an adapter. The full number is never put in a
message or a result field meant for logs; use ``masked``.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from loanflow.engine.errors import BusinessError
from loanflow.workers.sdk import worker

__all__ = [
    "IdCheckInput",
    "IdCheckOutput",
    "check_digit",
    "check_id_number",
    "id_checksum_ok",
    "mask_id_number",
]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
PROVINCE_CODES = frozenset(
    (
        *range(11, 16),
        *range(21, 24),
        *range(31, 38),
        *range(41, 47),
        *range(50, 55),
        *range(61, 66),
        71,
        81,
        82,
        91,
    )
)
EARLIEST_BIRTH = date(1900, 1, 1)

Problem = Literal["length", "format", "region", "birth_date", "checksum"]


def check_digit(first17: str) -> str:
    """The check character (``0``–``9`` or ``X``) for the first 17 digits of a number."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("check_digit needs exactly 17 ASCII digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def id_checksum_ok(number: str) -> bool:
    """Whether an 18-character number's last character matches its check digit.

    Never raises: anything that is not 17 digits plus ``0``–``9``/``X`` (either case)
    is simply not OK.
    """
    if len(number) != 18 or not number[:17].isascii() or not number[:17].isdigit():
        return False
    return check_digit(number[:17]) == number[17].upper()


def mask_id_number(number: str) -> str:
    """The number with characters 7 to 14 (the birth date) replaced by ``*``."""
    return number[:6] + "*" * len(number[6:14]) + number[14:]


class IdCheckInput(BaseModel):
    id_number: str = Field(
        min_length=1, max_length=64, description="The 18-character number as the applicant gave it."
    )
    name: str | None = Field(default=None, description="Holder's name; not checked here.")
    on_date: date | None = Field(
        default=None,
        description="Date to compute the age on and to judge the birth date by; default today.",
    )
    strict: bool = Field(
        default=False,
        description="Raise the BPMN error ID_INVALID instead of returning valid=false.",
    )


class IdCheckOutput(BaseModel):
    valid: bool
    problems: list[Problem] = Field(
        description="What is wrong: length, format, region, birth_date, checksum."
    )
    birth_date: date | None = Field(description="The encoded birth date, if it is a real date.")
    sex: Literal["M", "F"] | None
    age: int | None = Field(description="Whole years on on_date, if the birth date is valid.")
    masked: str = Field(description="The number with the birth date hidden, safe for logs.")


def _birth_date(digits: str) -> date | None:
    try:
        return date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@worker("identity.check_id_number", retries=0)
def check_id_number(job: IdCheckInput) -> IdCheckOutput:
    """Check a PRC resident ID number's structure, region, birth date and check digit.

    Returns what the number encodes (birth date, sex, age) and a masked copy for logs.
    With ``strict`` an invalid number raises the business error ``ID_INVALID`` with the
    problem codes in the variable ``id_problems``.
    """
    number = "".join(job.id_number.split()).upper()
    on = job.on_date or date.today()
    problems: list[Problem] = []
    born: date | None = None
    sex: Literal["M", "F"] | None = None
    age: int | None = None

    if len(number) != 18:
        problems.append("length")
    elif not (number[:17].isascii() and number[:17].isdigit()) or number[17] not in _CHECK:
        problems.append("format")
    else:
        if int(number[:2]) not in PROVINCE_CODES:
            problems.append("region")
        born = _birth_date(number[6:14])
        if born is None or born < EARLIEST_BIRTH or born > on:
            problems.append("birth_date")
        else:
            age = _age(born, on)
        sex = "M" if int(number[16]) % 2 else "F"
        if not id_checksum_ok(number):
            problems.append("checksum")

    result = IdCheckOutput(
        valid=not problems,
        problems=problems,
        birth_date=born,
        sex=sex,
        age=age,
        masked=mask_id_number(number),
    )
    if problems and job.strict:
        raise BusinessError(
            "ID_INVALID",
            f"ID number {result.masked} is invalid: {', '.join(problems)}",
            variables={"id_problems": list(problems)},
        )
    return result
