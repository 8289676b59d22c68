"""Resident ID cards: fields of both sides, and the checks a loan officer relies on.

The front's number is checked against itself (GB 11643 check digit, reusing
:func:`loanflow.workers.builtin.identity.check_digit`) and against what the card prints
(birth date, and sex: the 17th digit is odd for men). The back's validity period must
cover the application date. A missing field is a failure too, so a photo that cut off the
number is not ``valid``.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from loanflow.workers.builtin.identity import check_digit, mask_id_number
from loanflow.workers.ocr._layout import Page, Value
from loanflow.workers.ocr._models import Failure, IdCardOutput, OcrField

__all__ = [
    "BACK_LABELS",
    "FRONT_LABELS",
    "detect_side",
    "ocr_field",
    "parse_date",
    "read_id_back",
    "read_id_front",
]

FRONT_LABELS = ("姓名", "性别", "民族", "出生", "住址", "公民身份号码")
BACK_LABELS = ("签发机关", "有效期限", "有效期至")
_ID_NUMBER = re.compile(r"\d{17}[\dX]")
_DATE = re.compile(r"(\d{4})\D{0,2}?(\d{1,2})\D{0,2}?(\d{1,2})")
_DIGIT_LIKE = str.maketrans({"O": "0", "o": "0", "D": "0", "I": "1", "l": "1", "x": "X", "×": "X"})


def ocr_field(value: Value | None, text: str | None = None) -> OcrField:
    """``value`` as a field; ``text`` replaces its text (normalized), ``""`` means unread."""
    if value is None:
        return OcrField()
    text = value.text if text is None else text
    return OcrField(value=text or None, confidence=round(value.confidence, 4) if text else 0.0)


def parse_date(text: str) -> date | None:
    """The first ``YYYY?M?D`` date in ``text`` (any separators), if it is a real date."""
    match = _DATE.search(text)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def detect_side(page: Page) -> Literal["front", "back"]:
    """``back`` when the page carries the back's labels and none of the front's."""
    if page.has_any(BACK_LABELS) and not page.has_any(FRONT_LABELS):
        return "back"
    return "front"


def _id_number(page: Page) -> tuple[str | None, float]:
    value = page.field("公民身份号码", FRONT_LABELS)
    candidates = [value] if value is not None else []
    for line in reversed(page.lines):  # the number is printed last; fall back to a search
        for item in line.items:
            candidates.append(Value(item.text, item.score, item.x0))
    for candidate in candidates:
        match = _ID_NUMBER.search(candidate.text.translate(_DIGIT_LIKE).upper())
        if match:
            return match[0], candidate.confidence
    return None, 0.0


def _missing(output: IdCardOutput, names: tuple[str, ...]) -> None:
    for name in names:
        field = getattr(output, name)
        if field.value is None:
            output.failures.append(
                Failure(code="FIELD_MISSING", field=name, message=f"{name} could not be read")
            )


def _low_confidence(output: IdCardOutput, names: tuple[str, ...], threshold: float) -> None:
    for name in names:
        field: OcrField = getattr(output, name)
        if field.value is not None and field.confidence < threshold:
            output.failures.append(
                Failure(
                    code="LOW_CONFIDENCE",
                    field=name,
                    message=f"{name} was read with confidence {field.confidence:.2f}; "
                    "check it against the photo",
                )
            )


_FRONT = ("name", "sex", "ethnicity", "birth_date", "address", "id_number")
_BACK = ("issuing_authority", "valid_from", "valid_until")


def read_id_front(page: Page, *, min_confidence: float) -> IdCardOutput:
    """Fields of the portrait side, checked against the number."""
    out = IdCardOutput(side="front")
    out.name = ocr_field(page.field("姓名", FRONT_LABELS))
    sex = page.field("性别", FRONT_LABELS)
    sex_text = next((c for c in sex.text if c in "男女"), None) if sex else None
    out.sex = ocr_field(sex, sex_text or "")
    ethnicity = page.field("民族", FRONT_LABELS)
    out.ethnicity = ocr_field(ethnicity)
    birth = page.field("出生", FRONT_LABELS)
    born = parse_date(birth.text) if birth else None
    out.birth_date = ocr_field(birth, born.isoformat() if born else "")
    out.address = ocr_field(page.field("住址", FRONT_LABELS, max_lines=4))
    number, confidence = _id_number(page)
    out.id_number = OcrField(value=number, confidence=round(confidence, 4) if number else 0.0)

    _missing(out, _FRONT)
    if number is not None:
        out.masked_id_number = mask_id_number(number)
        _check_number(out, number, born)
    _low_confidence(out, _FRONT, min_confidence)
    return out


def _check_number(out: IdCardOutput, number: str, born: date | None) -> None:
    masked = mask_id_number(number)
    if check_digit(number[:17]) != number[17]:
        out.failures.append(
            Failure(
                code="ID_CHECKSUM",
                field="id_number",
                message=f"the check digit of {masked} is wrong (GB 11643)",
            )
        )
    encoded = parse_date(f"{number[6:10]}-{number[10:12]}-{number[12:14]}")
    if encoded is None:
        out.failures.append(
            Failure(
                code="ID_BIRTH_MISMATCH",
                field="birth_date",
                message=f"{masked} does not encode a real birth date",
            )
        )
    elif born is not None and born != encoded:
        out.failures.append(
            Failure(
                code="ID_BIRTH_MISMATCH",
                field="birth_date",
                message="the birth date printed on the card differs from the one in the number",
            )
        )
    printed = out.sex.value
    if printed is not None and printed != ("男" if int(number[16]) % 2 else "女"):
        out.failures.append(
            Failure(
                code="ID_SEX_MISMATCH",
                field="sex",
                message=f"the card says {printed}, the number's 17th digit says otherwise",
            )
        )


def read_id_back(page: Page, *, on: date, min_confidence: float) -> IdCardOutput:
    """Issuing authority and validity period; ``ID_EXPIRED`` if it ends before ``on``."""
    out = IdCardOutput(side="back")
    out.issuing_authority = ocr_field(page.field("签发机关", BACK_LABELS))
    period = page.field(("有效期限", "有效期至"), BACK_LABELS)
    text = period.text if period else ""
    dates = [parse_date(part) for part in re.split(r"[-—~至]", text) if part]
    start = dates[0] if dates else None
    lifelong = "长期" in text
    end = None if lifelong or len(dates) < 2 else dates[1]
    out.valid_from = ocr_field(period, start.isoformat() if start else "")
    out.valid_until = ocr_field(period, "长期" if lifelong else (end.isoformat() if end else ""))

    _missing(out, _BACK)
    if start is not None and start > on:
        out.failures.append(
            Failure(
                code="ID_NOT_YET_VALID",
                field="valid_from",
                message=f"the card is valid only from {start.isoformat()}",
            )
        )
    if end is not None and end < on:
        out.failures.append(
            Failure(
                code="ID_EXPIRED",
                field="valid_until",
                message=f"the card expired on {end.isoformat()}, before {on.isoformat()}",
            )
        )
    _low_confidence(out, _BACK, min_confidence)
    return out
