"""Amounts as statements and licences print them: ``1,234,567.89``, ``200万元``, ``壹佰万元整``.

Statements print thousands separators (which the engine may read as ``，`` or ``.``) and
state their unit once (``单位：万元``); licences print registered capital in Arabic or in
financial capitals. Everything is returned in yuan as a float rounded to the fen.
"""

from __future__ import annotations

import re

__all__ = ["parse_amount", "parse_capitals", "unit_multiplier"]

_UNITS = {"元": 1, "千元": 1_000, "万元": 10_000, "亿元": 100_000_000}
_NUMBER = re.compile(r"^[-−]?[\d,，.]*\d[\d,，.]*$")
_SUFFIX = re.compile(r"(亿元|万元|千元|元)$")
_DIGITS = {c: i for i, c in enumerate("零壹贰叁肆伍陆柒捌玖")} | {
    c: i for i, c in enumerate("〇一二三四五六七八九")
}
_SMALL = {"拾": 10, "十": 10, "佰": 100, "百": 100, "仟": 1000, "千": 1000}
_LARGE = "万亿"


def unit_multiplier(text: str) -> int:
    """Yuan per printed unit from a page's text (``单位：万元`` → 10000; default 1)."""
    match = re.search(r"(?:单位|金额单位)[:：]?(?:人民币)?(亿元|万元|千元|元)", text)
    return _UNITS[match.group(1)] if match else 1


def parse_amount(text: str, multiplier: int = 1) -> float | None:
    """``1,234.50``, ``(1,234.50)`` (negative), ``12.5万元``; None if it is not an amount.

    A separator read as ``.`` is told from the decimal point by position: only the last
    dot followed by one or two digits is a decimal point.
    """
    raw = "".join(text.split())
    negative = raw.startswith(("(", "（", "-", "−"))
    raw = raw.strip("()（）-−")
    suffix = _SUFFIX.search(raw)
    if suffix:
        multiplier = _UNITS[suffix.group(1)]
        raw = raw[: suffix.start()]
    if not raw or not _NUMBER.match(raw):
        return None
    raw = raw.replace("，", ",")
    head, dot, tail = raw.rpartition(".")
    if dot and len(tail) in (1, 2) and tail.isdigit():
        integer, fraction = head, tail
    else:
        integer, fraction = raw, ""
    integer = integer.replace(",", "").replace(".", "")
    if not integer.isdigit():
        return None
    value = float(f"{integer}.{fraction or '0'}") * multiplier
    return round(-value if negative else value, 2)


def parse_capitals(text: str) -> float | None:
    """``壹佰万元整`` / ``叁拾伍万元`` → yuan; also plain ``200万元``; None if unreadable."""
    raw = "".join(text.split()).removeprefix("人民币").rstrip("整正")
    plain = parse_amount(raw)
    if plain is not None:
        return plain
    raw = raw.removesuffix("元")
    if not raw or any(c not in _DIGITS and c not in _SMALL and c not in _LARGE for c in raw):
        return None
    total = section = digit = 0
    for char in raw:
        if char in _DIGITS:
            digit = _DIGITS[char]
        elif char in _SMALL:
            section += (digit or 1) * _SMALL[char]
            digit = 0
        elif char == "万":
            total += (section + digit) * 10_000
            section = digit = 0
        else:
            total = (total + section + digit) * 100_000_000
            section = digit = 0
    return float(total + section + digit)
