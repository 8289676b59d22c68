"""Decision requirement graphs: required decisions first, once; cycles and gaps refused."""

from __future__ import annotations

import pytest
from dmn_builder import DMN13, compile_one, table_xml

from loanflow.engine.bpmn.parser import parse_xml
from loanflow.engine.dmn import (
    DmnProblems,
    check_requirements,
    compile_dmn,
    evaluate_decision,
)

GRADE = """
  <decision id="grade" name="Grade">
    <decisionTable id="table_grade" hitPolicy="FIRST">
      <input id="in_score" label="Score">
        <inputExpression id="e1" typeRef="number"><text>score</text></inputExpression>
      </input>
      <output id="out_grade" label="Grade" name="grade" typeRef="string" />
      <rule id="g1">
        <inputEntry id="g1i"><text>&gt;= 700</text></inputEntry>
        <outputEntry id="g1o"><text>"A"</text></outputEntry>
      </rule>
      <rule id="g2">
        <inputEntry id="g2i"><text>-</text></inputEntry>
        <outputEntry id="g2o"><text>"B"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
  <decision id="base_limit" name="Base limit">
    <variable id="v_base" name="base_limit" typeRef="number" />
    <literalExpression id="lit"><text>income * 10</text></literalExpression>
  </decision>
"""


def admission() -> bytes:
    return table_xml(
        [(['"A"', "-"], ["base_limit * 2"]), (['"B"', "-"], ["base_limit"])],
        inputs=[("grade", "string"), ("amount", "number")],
        outputs=[("limit", "number")],
        decision_id="admission",
        requires=["grade", "base_limit"],
        extra_decisions=GRADE,
    )


def test_required_decisions_are_evaluated_first_and_feed_the_next() -> None:
    decisions = compile_one(admission())
    assert check_requirements(decisions) == []
    result, evaluations = evaluate_decision(
        decisions["admission"], decisions, {"score": 720, "income": 5000, "amount": 1}
    )
    assert result == {"limit": 100000}
    assert [e.decision for e in evaluations] == ["grade", "base_limit", "admission"]
    assert evaluations[0].matched == [{"number": 1, "id": "g1"}]
    assert evaluations[1].result == 50000


def test_a_missing_required_decision_is_a_problem() -> None:
    decisions = compile_one(table_xml([(["-"], ["1"])], decision_id="lonely", requires=["nowhere"]))
    (problem,) = check_requirements(decisions)
    assert "requires decision 'nowhere'" in problem.message and problem.element == "lonely"


def test_a_cycle_is_a_problem() -> None:
    xml = f"""<definitions xmlns="{DMN13}" id="d" name="d" namespace="x">
      <decision id="a">
        <informationRequirement id="r1"><requiredDecision href="#b"/></informationRequirement>
        <literalExpression id="la"><text>b + 1</text></literalExpression></decision>
      <decision id="b">
        <informationRequirement id="r2"><requiredDecision href="#a"/></informationRequirement>
        <literalExpression id="lb"><text>a + 1</text></literalExpression></decision>
    </definitions>""".encode()
    decisions = {d.id: d for d in compile_dmn(parse_xml(xml).getroot(), "cycle.dmn")}
    problems = check_requirements(decisions)
    assert any("cycle: a → b → a" in p.message for p in problems)


def test_a_decision_without_logic_is_refused() -> None:
    xml = f"""<definitions xmlns="{DMN13}" id="d" name="d" namespace="x">
      <decision id="empty" name="Empty"/></definitions>""".encode()
    with pytest.raises(DmnProblems, match="neither a decision table nor a literal"):
        compile_dmn(parse_xml(xml).getroot(), "empty.dmn")


def test_older_dmn_namespaces_read_the_same() -> None:
    for namespace in (
        "http://www.omg.org/spec/DMN/20180521/MODEL/",
        "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    ):
        xml = table_xml([(["< 5"], ['"low"'])]).replace(DMN13.encode(), namespace.encode())
        decisions = compile_one(xml)
        result, _ = evaluate_decision(decisions["decision"], decisions, {"x": 1})
        assert result == {"result": "low"}
