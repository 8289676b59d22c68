"""Amounts in Chinese capitals (人民币大写) and small Chinese numerals for clause numbers.

The capitals follow the rules for bills and settlement vouchers of the People's Bank of
China (《正确填写票据和结算凭证的基本规定》):

- digits 零壹贰叁肆伍陆柒捌玖, units 拾佰仟, groups 万 and 亿, then 元角分;
- 10–19 keep their 壹: ``¥16.00`` is 壹拾陆元整, never 拾陆元整;
- a run of zeros between two non-zero digits is one 零, also across a 万/亿 group
  (``¥107,000.53`` → 壹拾万零柒仟元零伍角叁分); zeros that end a group or the integer part
  are not written, and an all-zero group drops its unit (``¥100,010,000`` → 壹亿零壹万元整);
- a 角 of 0 before 分 is written 零 (``¥1,000,000.05`` → 壹佰万元零伍分); a 元 digit of 0
  before 角 is not (``¥1,680.32`` → 壹仟陆佰捌拾元叁角贰分, ``¥10.50`` → 壹拾元伍角整): the
  rules allow either form there, and a 角 directly after 元 leaves no gap to insert into;
- 整 ends an amount without 分 (``¥10.50`` → 壹拾元伍角整); an amount with 分 has none.

Money is never rounded here: more than two decimals is an error, not a guess.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

__all__ = ["MAX_AMOUNT", "chinese_numeral", "to_chinese_capitals"]

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_UNITS = ("", "拾", "佰", "仟")
_GROUPS = ("", "万", "亿")

MAX_AMOUNT = Decimal("999999999999.99")
"""The largest amount written: just under 1万亿 (one trillion) yuan."""


def _cents(amount: Decimal | int | str) -> int:
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"not an amount: {amount!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {amount!r}")
    if value < 0:
        raise ValueError(f"a negative amount has no capitals: {amount!r}")
    if value > MAX_AMOUNT:
        raise ValueError(f"amount {amount!r} is above {MAX_AMOUNT}")
    cents = value * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"amount {amount!r} has more than two decimals")
    return int(cents)


def _integer_part(yuan: int) -> str:
    digits = str(yuan)
    out: list[str] = []
    pending_zero = False
    group_used = False
    for index, char in enumerate(digits):
        position = len(digits) - 1 - index
        digit = int(char)
        if digit == 0:
            pending_zero = True
        else:
            if pending_zero:
                out.append("零")
                pending_zero = False
            out.append(_DIGITS[digit] + _UNITS[position % 4])
            group_used = True
        if position % 4 == 0 and position > 0:
            if group_used:
                out.append(_GROUPS[position // 4])
            group_used = False
    return "".join(out)


def to_chinese_capitals(amount: Decimal | int | str) -> str:
    """The amount in yuan as written on a contract: ``Decimal("100000")`` → 壹拾万元整.

    ``ValueError`` for a negative or non-finite amount, more than two decimals, or an
    amount above :data:`MAX_AMOUNT`.
    """
    cents = _cents(amount)
    yuan, rest = divmod(cents, 100)
    jiao, fen = divmod(rest, 10)
    if yuan == 0 and rest == 0:
        return "零元整"
    out = ""
    if yuan:
        out = _integer_part(yuan) + "元"
    if jiao:
        out += _DIGITS[jiao] + "角"
    elif fen and yuan:
        out += "零"
    if fen:
        return out + _DIGITS[fen] + "分"
    return out + "整"


def chinese_numeral(number: int) -> str:
    """1 → 一, 10 → 十, 21 → 二十一, up to 999: numbering clauses (第二十一条)."""
    if not 1 <= number <= 999:
        raise ValueError(f"clause numbers run from 1 to 999, got {number}")
    simple = "〇一二三四五六七八九"
    hundreds, rest = divmod(number, 100)
    tens, ones = divmod(rest, 10)
    out = ""
    if hundreds:
        out += simple[hundreds] + "百"
        if rest and tens == 0:
            return out + "零" + simple[ones]
    if tens:
        out += ("" if tens == 1 and not hundreds else simple[tens]) + "十"
    if ones:
        out += simple[ones]
    return out
