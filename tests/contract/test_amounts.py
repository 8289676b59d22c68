"""Amounts in Chinese capitals: known answers from the PBoC rules and the edge cases."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loanflow.workers.contract import MAX_AMOUNT, chinese_numeral, to_chinese_capitals


@pytest.mark.parametrize(
    ("amount", "capitals"),
    [
        # the brief's and the rules' own examples
        ("1000000.05", "壹佰万元零伍分"),
        ("100000", "壹拾万元整"),
        ("10.50", "壹拾元伍角整"),
        ("16.00", "壹拾陆元整"),
        ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
        ("107000.53", "壹拾万零柒仟元伍角叁分"),
        ("6007.14", "陆仟零柒元壹角肆分"),
        ("1409.50", "壹仟肆佰零玖元伍角整"),
        ("325.04", "叁佰贰拾伍元零肆分"),
        # only jiao / fen
        ("0.05", "伍分"),
        ("0.50", "伍角整"),
        ("0.55", "伍角伍分"),
        ("0.01", "壹分"),
        ("0", "零元整"),
        ("0.00", "零元整"),
        # ones, tens, the leading 壹拾
        ("1", "壹元整"),
        ("10", "壹拾元整"),
        ("11", "壹拾壹元整"),
        ("20", "贰拾元整"),
        ("101", "壹佰零壹元整"),
        ("110", "壹佰壹拾元整"),
        ("1010", "壹仟零壹拾元整"),
        ("1001", "壹仟零壹元整"),
        # zeros across the 万 group
        ("10000", "壹万元整"),
        ("10001", "壹万零壹元整"),
        ("10010", "壹万零壹拾元整"),
        ("11000", "壹万壹仟元整"),
        ("100100", "壹拾万零壹佰元整"),
        ("110000", "壹拾壹万元整"),
        ("1000001", "壹佰万零壹元整"),
        ("10000000", "壹仟万元整"),
        ("12345678.90", "壹仟贰佰叁拾肆万伍仟陆佰柒拾捌元玖角整"),
        # the 亿 group, an empty 万 group drops its unit
        ("100000000", "壹亿元整"),
        ("100000001", "壹亿零壹元整"),
        ("100010000", "壹亿零壹万元整"),
        ("101000000", "壹亿零壹佰万元整"),
        ("110000000", "壹亿壹仟万元整"),
        ("1000000000", "壹拾亿元整"),
        ("100000000000", "壹仟亿元整"),
        ("999999999999.99", "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
        # zero 元 digit before 角 / zero 角 before 分
        ("100000.50", "壹拾万元伍角整"),
        ("10000.10", "壹万元壹角整"),
        ("10000.01", "壹万元零壹分"),
        ("20.07", "贰拾元零柒分"),
        ("3.45", "叁元肆角伍分"),
    ],
)
def test_known_answers(amount: str, capitals: str) -> None:
    assert to_chinese_capitals(Decimal(amount)) == capitals


def test_accepts_ints_and_strings_exactly_like_decimals() -> None:
    assert to_chinese_capitals(100000) == to_chinese_capitals("100000.00") == "壹拾万元整"


def test_the_digits_never_change_the_meaning() -> None:
    """No two amounts of a sweep share capitals: the writing is unambiguous."""
    seen: dict[str, Decimal] = {}
    for cents in [*range(0, 20_001, 7), *range(10_000_000, 10_100_000, 997)]:
        amount = Decimal(cents) / 100
        text = to_chinese_capitals(amount)
        assert text not in seen, (amount, seen.get(text))
        seen[text] = amount
        assert text.endswith(("整", "分"))
        assert "零零" not in text
        assert not text.startswith("零") or text == "零元整"


@pytest.mark.parametrize(
    "bad",
    [
        Decimal("-1"),
        Decimal("0.001"),
        Decimal("10.505"),
        Decimal("NaN"),
        Decimal("Infinity"),
        MAX_AMOUNT + Decimal("0.01"),
        "ten yuan",
    ],
)
def test_refuses_what_it_cannot_write_exactly(bad: Decimal | str) -> None:
    with pytest.raises(ValueError):
        to_chinese_capitals(bad)


@pytest.mark.parametrize(
    ("number", "text"),
    [(1, "一"), (9, "九"), (10, "十"), (11, "十一"), (20, "二十"), (21, "二十一"), (99, "九十九"),
     (100, "一百"), (101, "一百零一"), (110, "一百一十"), (999, "九百九十九")],
)  # fmt: skip
def test_clause_numerals(number: int, text: str) -> None:
    assert chinese_numeral(number) == text


@pytest.mark.parametrize("number", [0, -1, 1000])
def test_clause_numerals_out_of_range(number: int) -> None:
    with pytest.raises(ValueError):
        chinese_numeral(number)
