"""Conditions and parameters in the three languages, told apart by how they are written."""

from __future__ import annotations

import pytest
from factories import assert_round_trip

from loanflow.engine import DeploymentError, Engine

TENANT = "enshi"


def gateway(condition: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="x">
  <bpmn:process id="route" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:exclusiveGateway id="g" default="f3"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:scriptTask id="big"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>path = "committee"</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="small"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:script>path = "branch"</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e1"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="e2"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="g"/>
    <bpmn:sequenceFlow id="f2" sourceRef="g" targetRef="big">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}
      </bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="g" targetRef="small"/>
    <bpmn:sequenceFlow id="f4" sourceRef="big" targetRef="e1"/>
    <bpmn:sequenceFlow id="f5" sourceRef="small" targetRef="e2"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


CONDITIONS = [
    "${applicant.amount &gt; 50000 &amp;&amp; !blacklisted}",  # JUEL, Camunda 7
    "${applicant.amount gt 50000 and not blacklisted}",  # JUEL word operators
    "= applicant.amount &gt; 50000 and not(blacklisted)",  # FEEL, Camunda 8
    'applicant["amount"] &gt; 50000 and not blacklisted',  # Python, SpiffArena
]


@pytest.mark.parametrize("condition", CONDITIONS)
@pytest.mark.parametrize(
    ("amount", "blacklisted", "path"),
    [(80000, False, "committee"), (80000, True, "branch"), (1000, False, "branch")],
)
def test_the_same_condition_in_each_language(
    engine: Engine, condition: str, amount: int, blacklisted: bool, path: str
) -> None:
    engine.deploy({"route.bpmn": gateway(condition)}, tenant=TENANT)
    variables = {"applicant": {"amount": amount}, "blacklisted": blacklisted}
    started = engine.start(TENANT, "route", variables=variables)
    assert_round_trip(engine, started.id)
    info = engine.get_instance(TENANT, started.id)
    assert info.state == "completed" and info.variables is not None
    assert info.variables["path"] == path


@pytest.mark.parametrize(
    ("condition", "needle"),
    [
        ("${amount &gt;}", "JUEL"),
        ("= amount &gt; &gt; 1", "FEEL"),
        ("amount &gt;", "SyntaxError"),
    ],
)
def test_a_condition_that_does_not_compile_is_a_deploy_error(
    engine: Engine, condition: str, needle: str
) -> None:
    with pytest.raises(DeploymentError) as caught:
        engine.deploy({"route.bpmn": gateway(condition)}, tenant=TENANT)
    (problem,) = caught.value.problems
    assert needle in problem.message and problem.element == "f2" and problem.line == 16
