"""Hit-policy conformance: each policy's result and each of its error cases."""

from __future__ import annotations

import pytest
from dmn_builder import decide, table_xml

from loanflow.engine.dmn import DecisionError

GRADES = [
    (["< 600"], ['"C"']),
    (["[600..700["], ['"B"']),
    ([">= 700"], ['"A"']),
]


@pytest.mark.parametrize(("score", "grade"), [(599, "C"), (600, "B"), (699.5, "B"), (700, "A")])
def test_unique_picks_the_one_matching_rule(score: float, grade: str) -> None:
    assert decide(table_xml(GRADES), {"x": score}) == {"result": grade}


def test_unique_with_no_match_is_none() -> None:
    assert decide(table_xml([(["> 5"], ['"big"'])]), {"x": 1}) is None


def test_unique_with_two_matches_is_an_error_naming_both_rules() -> None:
    xml = table_xml([(["> 5"], ['"big"']), (["> 3"], ['"medium"'])])
    with pytest.raises(DecisionError) as caught:
        decide(xml, {"x": 10})
    message = str(caught.value)
    assert "UNIQUE" in message and "rule 1 (Rule_1)" in message and "rule 2 (Rule_2)" in message
    assert caught.value.decision == "decision"


def test_first_takes_the_first_match_in_rule_order() -> None:
    xml = table_xml(
        [(["> 5"], ['"big"']), (["> 3"], ['"medium"']), (["-"], ['"any"'])], hit_policy="FIRST"
    )
    assert decide(xml, {"x": 10}) == {"result": "big"}
    assert decide(xml, {"x": 4}) == {"result": "medium"}
    assert decide(xml, {"x": 0}) == {"result": "any"}


def test_priority_orders_by_output_values() -> None:
    xml = table_xml(
        [(["> 0"], ['"review"']), (["> 100"], ['"reject"']), (["-"], ['"accept"'])],
        hit_policy="PRIORITY",
        output_values={"result": '"reject","review","accept"'},
    )
    assert decide(xml, {"x": 500}) == {"result": "reject"}
    assert decide(xml, {"x": 5}) == {"result": "review"}
    assert decide(xml, {"x": -1}) == {"result": "accept"}


def test_priority_without_output_values_is_refused_at_deploy() -> None:
    from loanflow.engine.dmn import DmnProblems

    with pytest.raises(DmnProblems, match="needs output values"):
        decide(table_xml([(["> 0"], ['"a"'])], hit_policy="PRIORITY"), {"x": 1})


def test_priority_with_an_output_outside_its_values_is_an_error() -> None:
    xml = table_xml(
        [(["> 0"], ['"maybe"'])],
        hit_policy="PRIORITY",
        output_values={"result": '"yes","no"'},
    )
    with pytest.raises(DecisionError, match="not among its output values"):
        decide(xml, {"x": 1})


def test_any_accepts_agreeing_matches_and_refuses_different_ones() -> None:
    xml = table_xml(
        [(["> 5"], ['"high"']), (["> 8"], ['"high"']), (["> 9"], ['"higher"'])], hit_policy="ANY"
    )
    assert decide(xml, {"x": 9}) == {"result": "high"}
    with pytest.raises(DecisionError, match=r"ANY.*rule 1 .*rule 3"):
        decide(xml, {"x": 10})


def test_rule_order_lists_every_match_in_rule_order() -> None:
    xml = table_xml(
        [(["> 5"], ['"a"']), (["> 100"], ['"b"']), (["> 1"], ['"c"'])], hit_policy="RULE ORDER"
    )
    assert decide(xml, {"x": 200}) == [{"result": "a"}, {"result": "b"}, {"result": "c"}]
    assert decide(xml, {"x": 0}) == []


def test_output_order_sorts_every_match_by_priority() -> None:
    xml = table_xml(
        [(["> 5"], ['"low"']), (["> 100"], ['"high"'])],
        hit_policy="OUTPUT ORDER",
        output_values={"result": '"high","low"'},
    )
    assert decide(xml, {"x": 200}) == [{"result": "high"}, {"result": "low"}]


COLLECT_RULES = [
    (["> 0"], ["10"]),
    (["> 5"], ["20"]),
    (["> 10"], ["5"]),
    (["> 20"], ["null"]),
]


@pytest.mark.parametrize(
    ("aggregation", "x", "expected"),
    [
        (None, 7, [{"result": 10}, {"result": 20}]),
        ("SUM", 11, 35),
        ("MIN", 11, 5),
        ("MAX", 11, 20),
        ("COUNT", 11, 3),
        ("COUNT", 25, 3),
        ("SUM", -1, None),
        ("COUNT", -1, 0),
    ],
)
def test_collect_and_its_aggregations(aggregation: str | None, x: int, expected: object) -> None:
    xml = table_xml(
        COLLECT_RULES,
        hit_policy="COLLECT",
        aggregation=aggregation,
        outputs=[("result", "number")],
    )
    assert decide(xml, {"x": x}) == expected


def test_collect_sum_over_strings_is_an_error() -> None:
    xml = table_xml([(["-"], ['"a"']), (["-"], ['"b"'])], hit_policy="COLLECT", aggregation="SUM")
    with pytest.raises(DecisionError, match="SUM needs numbers"):
        decide(xml, {"x": 1})


def test_aggregation_on_a_policy_other_than_collect_is_refused() -> None:
    from loanflow.engine.dmn import DmnProblems

    with pytest.raises(DmnProblems, match="needs hit policy COLLECT"):
        decide(table_xml(GRADES, hit_policy="FIRST", aggregation="SUM"), {"x": 1})


def test_an_unknown_hit_policy_is_refused() -> None:
    from loanflow.engine.dmn import DmnProblems

    with pytest.raises(DmnProblems, match="unknown hit policy 'SOME'"):
        decide(table_xml(GRADES, hit_policy="SOME"), {"x": 1})


def test_several_outputs_come_back_together() -> None:
    xml = table_xml(
        [([">= 700"], ['"A"', "x * 100"]), (["< 700"], ['"B"', "x * 50"])],
        outputs=[("grade", "string"), ("limit", "number")],
    )
    assert decide(xml, {"x": 710}) == {"grade": "A", "limit": 71000}
