"""Conformance tables for JUEL: literals, every operator and its word form, coercions, paths."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from loanflow.engine.juel import compile_expression

CTX: dict[str, Any] = {
    "a": 5,
    "b": 2,
    "f": 2.5,
    "n": None,
    "s": "hi",
    "num": "42",
    "flt": "1.5",
    "blank": "",
    "yes": True,
    "no": False,
    "d": Decimal("2.5"),
    "items": [10, 20, 30],
    "tup": ("x", "y"),
    "nothing": [],
    "nomap": {},
    "map": {"key": "v", "1": "one", "nested": {"k": [1, {"deep": "yes"}]}},
    "customer": {"address": {"city": "Enshi"}, "name": "Li", "tags": ["vip"]},
    "amount": 60000,
    "approved": True,
    "blacklisted": False,
    "comments": "",
    "$dollar": 1,
    "月收入": 8000,
    "t": "true",
    "F": "FALSE",
    "idx": 1,
    "k": "key",
}


def ev(text: str, ctx: dict[str, Any] | None = None) -> Any:
    return compile_expression(text)(CTX if ctx is None else ctx)


def same(actual: Any, expected: Any) -> bool:
    """Equal and of the same type, so 2 is not accepted for 2.0 nor True for 1."""
    return type(actual) is type(expected) and actual == expected


LITERALS = [
    ("${1}", 1),
    ("${0}", 0),
    ("${1.5}", 1.5),
    ("${.5}", 0.5),
    ("${1.}", 1.0),
    ("${1e3}", 1000.0),
    ("${2E-1}", 0.2),
    ("${1.5e+2}", 150.0),
    ("${'single'}", "single"),
    ('${"double"}', "double"),
    ("${'it\\'s'}", "it's"),
    ('${"say \\"hi\\""}', 'say "hi"'),
    ("${'a\\\\b'}", "a\\b"),
    ("${'\\d+'}", "\\d+"),
    ("${'\"'}", '"'),
    ('${"\\\'"}', "\\'"),
    ("${'}'}", "}"),
    ("${''}", ""),
    ("${true}", True),
    ("${false}", False),
    ("${null}", None),
    ("#{1 + 1}", 2),
    ("${ 7 }", 7),
]

ARITHMETIC = [
    ("${1 + 2}", 3),
    ("${a + b}", 7),
    ("${a - b}", 3),
    ("${a * b}", 10),
    ("${a / b}", 2.5),
    ("${a div b}", 2.5),
    ("${6 / 3}", 2.0),
    ("${a % b}", 1),
    ("${a mod b}", 1),
    ("${-7 % 3}", -1),
    ("${7 % -3}", 1),
    ("${7.5 % 2}", 1.5),
    ("${f + 1}", 3.5),
    ("${f * 2}", 5.0),
    ("${1 + 2 * 3}", 7),
    ("${(1 + 2) * 3}", 9),
    ("${10 - 2 - 3}", 5),
    ("${2 * 3 % 4}", 2),
    ("${-a}", -5),
    ("${- -a}", 5),
    ("${-f}", -2.5),
    ("${-num}", -42),
    ("${-n}", 0),
    ("${d + 1}", Decimal("3.5")),
    ("${d + f}", Decimal("5.0")),
    ("${d / 2}", Decimal("1.25")),
    ("${d * 2}", Decimal("5.0")),
    ("${d % 2}", Decimal("0.5")),
    ("${a == d * 2}", True),
    ("${100000000000000000000 * 10}", 1000000000000000000000),
]

COERCIONS = [
    ("${num + 1}", 43),
    ("${'5' + '6'}", 11),
    ("${flt + 1}", 2.5),
    ("${'1e2' * 1}", 100.0),
    ("${'-3' - 1}", -4),
    ("${n + 1}", 1),
    ("${n + n}", 0),
    ("${blank + 1}", 1),
    ("${num == 42}", True),
    ("${42 == num}", True),
    ("${'42.0' == 42}", True),
    ("${num > 9}", True),
    ("${num > '9'}", False),
    ("${'10' < 9}", False),
    ("${flt < 2}", True),
    ("${1 == 1.0}", True),
    ("${d == 2.5}", True),
    ("${d > 2}", True),
    ("${d < f}", False),
    ("${blank == 0}", True),
    ("${yes == 'true'}", True),
    ("${yes == 'TRUE'}", True),
    ("${no == 'x'}", True),
    ("${yes != t}", False),
    ("${t && yes}", True),
    ("${F || false}", False),
    ("${!t}", False),
    ("${!'yes'}", True),
]

COMPARISONS = [
    ("${a > 4}", True),
    ("${a gt 5}", False),
    ("${a < 6}", True),
    ("${a lt 5}", False),
    ("${a >= 5}", True),
    ("${a ge 6}", False),
    ("${a <= 5}", True),
    ("${a le 4}", False),
    ("${a == 5}", True),
    ("${a eq 5.0}", True),
    ("${a != 5}", False),
    ("${a ne 4}", True),
    ("${s == 'hi'}", True),
    ('${s eq "hi"}', True),
    ("${s != 'HI'}", True),
    ("${'abc' < 'abd'}", True),
    ("${'b' > 'abc'}", True),
    ("${'b' >= 'b'}", True),
    ("${f > a}", False),
    ("${1 + 1 == 2}", True),
    ("${a > 1 == true}", True),
    ("${(a == 5) == yes}", True),
    ("${amount > 50000}", True),
    ("${customer.address.city == 'Enshi'}", True),
    ("${items == items}", True),
    ("${map == map}", True),
    ("${s == items}", False),
]

NULLS = [
    ("${n == null}", True),
    ("${null == null}", True),
    ("${n != null}", False),
    ("${a == null}", False),
    ("${null == a}", False),
    ("${s == null}", False),
    ("${n eq 0}", False),
    ("${n < 1}", False),
    ("${n > 1}", False),
    ("${1 < n}", False),
    ("${n <= n}", True),
    ("${n >= null}", True),
    ("${n < n}", False),
    ("${!n}", True),
    ("${n && true}", False),
    ("${n || true}", True),
    ("${n ? 1 : 2}", 2),
]

LOGIC = [
    ("${approved && !blacklisted}", True),
    ("${approved and not blacklisted}", True),
    ("${yes && no}", False),
    ("${yes || no}", True),
    ("${yes or no}", True),
    ("${no || no || yes}", True),
    ("${yes && yes && no}", False),
    ("${no && a > 1}", False),
    ("${!yes}", False),
    ("${not no}", True),
    ("${!!yes}", True),
    ("${no || yes && no}", False),
    ("${yes || no && no}", True),
    ("${(yes || no) && no}", False),
    ("${yes ? 'y' : 'n'}", "y"),
    ("${no ? 'y' : 'n'}", "n"),
    ("${a > 3 ? a * 2 : 0}", 10),
    ("${no ? 1 : yes ? 2 : 3}", 2),
    ("${yes ? no ? 1 : 2 : 3}", 2),
    ("${true ? 1 : 2}", 1),
    # Short-circuiting: the right side would fail.
    ("${no && missing}", False),
    ("${yes || missing}", True),
    ("${no && 1 / 0 > 1}", False),
    ("${yes ? 1 : missing}", 1),
]

EMPTY = [
    ("${empty n}", True),
    ("${empty comments}", True),
    ("${empty s}", False),
    ("${empty nothing}", True),
    ("${empty items}", False),
    ("${empty nomap}", True),
    ("${empty map}", False),
    ("${empty tup}", False),
    ("${empty a}", False),
    ("${empty 0}", False),
    ("${empty no}", False),
    ("${empty missing}", True),
    ("${empty missing.deeper}", True),
    ("${empty customer.phone}", True),
    ("${empty customer.name}", False),
    ("${not empty s}", True),
    ("${!empty comments}", False),
    ("${empty comments && a > 1}", True),
    ("${empty ''}", True),
    ("${empty null}", True),
]

ACCESS = [
    ("${customer.address.city}", "Enshi"),
    ("${customer['address']['city']}", "Enshi"),
    ('${customer["address"].city}', "Enshi"),
    ("${customer.address['city']}", "Enshi"),
    ("${customer.phone}", None),
    ("${customer.phone.number}", None),
    ("${n.x}", None),
    ("${n[0]}", None),
    ("${items[0]}", 10),
    ("${items[2]}", 30),
    ("${items[3]}", None),
    ("${items[-1]}", None),
    ("${items[idx]}", 20),
    ("${items[idx + 1]}", 30),
    ("${items['1']}", 20),
    ("${tup[1]}", "y"),
    ("${map['key']}", "v"),
    ("${map[k]}", "v"),
    ("${map.key}", "v"),
    ("${map['1']}", "one"),
    ("${map[1]}", None),
    ("${map['absent']}", None),
    ("${map.nested.k[1].deep}", "yes"),
    ("${map['nested']['k'][0]}", 1),
    ("${customer.tags[0]}", "vip"),
    ("${customer.tags[0] == 'vip'}", True),
    ("${$dollar}", 1),
    ("${月收入 > 5000}", True),
    ("${execution.getVariable('a')}", 5),
    ('${execution.getVariable("customer").address.city}', "Enshi"),
    ("${execution.getVariable('unset')}", None),
    ("${execution.getVariable('a') + 1}", 6),
]

COMPOSITE = [
    ("Loan ${a} for ${customer.name}", "Loan 5 for Li"),
    ("${a}${b}", "52"),
    ("x${n}y", "xy"),
    ("ok=${yes}", "ok=true"),
    ("no=${no}", "no=false"),
    ("f=${f}", "f=2.5"),
    ("${s}!", "hi!"),
    ("#{a}-#{b}", "5-2"),
    ("cost: \\${a}", "cost: ${a}"),
    ("cost: \\#{a}", "cost: #{a}"),
    ("\\\\${a}", "\\${a}"),
    ("back\\slash ${a}", "back\\slash 5"),
    ("price $5 ${a}", "price $5 5"),
    ("just text", "just text"),
    ("", ""),
    ("${'}'} and {braces}", "} and {braces}"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    LITERALS + ARITHMETIC + COERCIONS + COMPARISONS + NULLS + LOGIC + EMPTY + ACCESS,
)
def test_expression(text: str, expected: Any) -> None:
    assert same(ev(text), expected), ev(text)


@pytest.mark.parametrize(("text", "expected"), COMPOSITE)
def test_composite_text(text: str, expected: str) -> None:
    assert same(ev(text), expected)


def test_surrounding_whitespace_of_a_single_expression_is_xml_indentation() -> None:
    expr = compile_expression("\n      ${amount > 50000}\n    ")
    assert expr.composite is False
    assert expr({"amount": 1}) is False
    assert compile_expression(" ${a} x")({"a": 1}) == " 1 x"


@pytest.mark.parametrize(
    ("text", "ctx", "expected"),
    [
        ("${x > 1}", {"x": 2}, True),
        ("${x > 1}", {"x": 1.5}, True),
        ("${x > 1}", {"x": "3"}, True),
        ("${x > 1}", {"x": Decimal("0.5")}, False),
        ("${x > 1}", {"x": None}, False),
        ("${x == 'A'}", {"x": "A"}, True),
        ("${x == 'A'}", {"x": None}, False),
        ("${x == 1}", {"x": 1.0}, True),
        ("${x == 1}", {"x": "1"}, True),
        ("${x != 1}", {"x": 2}, True),
        ("${x == true}", {"x": True}, True),
        ("${x == true}", {"x": "true"}, True),
        ("${x + 1}", {"x": 1}, 2),
        ("${x + 1}", {"x": "1"}, 2),
        ("${x * y}", {"x": 2, "y": 1.5}, 3.0),
        ("${x - y}", {"x": "3", "y": None}, 3),
    ],
)
def test_fast_paths_agree_with_the_general_rules(
    text: str, ctx: dict[str, Any], expected: Any
) -> None:
    assert same(ev(text, ctx), expected)


def test_results_are_not_shared_between_calls() -> None:
    expr = compile_expression("${items}")
    first = expr({"items": [1]})
    first.append(2)
    assert expr({"items": [1]}) == [1]
