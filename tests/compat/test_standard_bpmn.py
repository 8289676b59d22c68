"""Standard BPMN that SpiffWorkflow refuses or mis-runs, as modelers draw it, run to the end.

Each diagram is drawn the way bpmn.io or a Signavio export writes it; every case runs to
completion with the expected path, reloading the instance from the store after each step.
"""

from __future__ import annotations

import pytest
from factories import assert_round_trip

from loanflow.engine import DeploymentError, Engine

TENANT = "enshi"
HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:signavio="http://www.signavio.com"
    id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn"
    exporter="bpmn-js (https://demo.bpmn.io)" exporterVersion="17.0.0">
  <bpmn:process id="p" isExecutable="true">
"""
TAIL = """  </bpmn:process>
</bpmn:definitions>
"""


def script(id: str, body: str, incoming: str, *outgoing: str) -> str:
    outs = "".join(f"<bpmn:outgoing>{o}</bpmn:outgoing>" for o in outgoing)
    return (
        f'<bpmn:scriptTask id="{id}"><bpmn:incoming>{incoming}</bpmn:incoming>{outs}'
        f"<bpmn:script>{body}</bpmn:script></bpmn:scriptTask>\n"
    )


def flow(id: str, source: str, target: str, condition: str | None = None) -> str:
    if condition is None:
        return f'<bpmn:sequenceFlow id="{id}" sourceRef="{source}" targetRef="{target}" />\n'
    return (
        f'<bpmn:sequenceFlow id="{id}" sourceRef="{source}" targetRef="{target}">'
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}'
        "</bpmn:conditionExpression></bpmn:sequenceFlow>\n"
    )


def run(engine: Engine, body: str, variables: dict[str, object] | None = None) -> dict[str, object]:
    info = engine.deploy({"p.bpmn": HEAD + body + TAIL}, tenant=TENANT)
    started = engine.start(TENANT, "p", variables=variables or {})
    assert_round_trip(engine, started.id)
    done = engine.get_instance(TENANT, started.id)
    assert done.state == "completed", done
    assert done.variables is not None
    return {"report": info.report, **done.variables}


START = '<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>\n'


def ends(*incoming: str) -> str:
    return "".join(
        f'<bpmn:endEvent id="end_{i}"><bpmn:incoming>{f}</bpmn:incoming></bpmn:endEvent>\n'
        for i, f in enumerate(incoming)
    )


def test_two_unconditioned_flows_out_of_a_task_are_an_implicit_fork(engine: Engine) -> None:
    body = (
        START
        + script("t", "x = 1", "f1", "f2", "f3")
        + script("a", "a = x + 1", "f2", "f4")
        + script("b", "b = x + 2", "f3", "f5")
        + ends("f4", "f5")
        + flow("f1", "s", "t")
        + flow("f2", "t", "a")
        + flow("f3", "t", "b")
        + flow("f4", "a", "end_0")
        + flow("f5", "b", "end_1")
    )
    data = run(engine, body)
    assert (data["a"], data["b"]) == (2, 3)
    (note,) = data["report"]
    assert note["element"] == "t" and "implicit parallel fork" in note["message"]


@pytest.mark.parametrize(("amount", "taken"), [(10, {"small"}), (900, {"large", "audit"})])
def test_conditional_flows_out_of_a_task(engine: Engine, amount: int, taken: set[str]) -> None:
    body = (
        START
        + script("t", "checked = True", "f1", "f2", "f3", "f6")
        + script("small", "small = True", "f2", "f4")
        + script("large", "large = True", "f3", "f5")
        + script("audit", "audit = True", "f6", "f7")
        + ends("f4", "f5", "f7")
        + flow("f1", "s", "t")
        + flow("f2", "t", "small", "amount &lt; 100")
        + flow("f3", "t", "large", "amount &gt;= 100")
        + flow("f6", "t", "audit", "amount &gt; 500")
        + flow("f4", "small", "end_0")
        + flow("f5", "large", "end_1")
        + flow("f7", "audit", "end_2")
    )
    data = run(engine, body, {"amount": amount})
    assert {k for k in ("small", "large", "audit") if data.get(k)} == taken


def test_a_plain_task_passes_through(engine: Engine) -> None:
    body = (
        START + '<bpmn:task id="t" name="Look at it"><bpmn:incoming>f1</bpmn:incoming>'
        "<bpmn:outgoing>f2</bpmn:outgoing></bpmn:task>\n"
        + script("after", "after = True", "f2", "f3")
        + ends("f3")
        + flow("f1", "s", "t")
        + flow("f2", "t", "after")
        + flow("f3", "after", "end_0")
    )
    assert run(engine, body)["after"] is True


def test_a_gateway_flow_without_condition_is_the_default(engine: Engine) -> None:
    body = (
        START + '<bpmn:exclusiveGateway id="g"><bpmn:incoming>f1</bpmn:incoming>'
        "<bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing>"
        "</bpmn:exclusiveGateway>\n"
        + script("yes", "path = 'yes'", "f2", "f4")
        + script("no", "path = 'no'", "f3", "f5")
        + ends("f4", "f5")
        + flow("f1", "s", "g")
        + flow("f2", "g", "yes", "ok")
        + flow("f3", "g", "no")
        + flow("f4", "yes", "end_0")
        + flow("f5", "no", "end_1")
    )
    assert run(engine, body, {"ok": True})["path"] == "yes"
    assert run(engine, body, {"ok": False})["path"] == "no"


def test_a_link_event_jumps_instead_of_being_skipped(engine: Engine) -> None:
    body = (
        START + '<bpmn:intermediateThrowEvent id="go"><bpmn:incoming>f1</bpmn:incoming>'
        '<bpmn:linkEventDefinition id="l1" name="to_review" /></bpmn:intermediateThrowEvent>\n'
        + '<bpmn:intermediateCatchEvent id="land"><bpmn:outgoing>f2</bpmn:outgoing>'
        '<bpmn:linkEventDefinition id="l2" name="to_review" /></bpmn:intermediateCatchEvent>\n'
        + script("review", "reviewed = True", "f2", "f3")
        + ends("f3")
        + flow("f1", "s", "go")
        + flow("f2", "land", "review")
        + flow("f3", "review", "end_0")
    )
    data = run(engine, body)
    assert data["reviewed"] is True
    assert any("jumps to land" in n["message"] for n in data["report"])


def test_a_link_thrown_to_nowhere_is_refused(engine: Engine) -> None:
    body = (
        START + '<bpmn:intermediateThrowEvent id="go"><bpmn:incoming>f1</bpmn:incoming>'
        '<bpmn:linkEventDefinition id="l1" name="nowhere" /></bpmn:intermediateThrowEvent>\n'
        + flow("f1", "s", "go")
    )
    with pytest.raises(DeploymentError) as caught:
        engine.deploy({"p.bpmn": HEAD + body + TAIL}, tenant=TENANT)
    problem = caught.value.problems[0]
    assert problem.element == "go" and "'nowhere'" in problem.message


def test_a_data_store_is_a_process_variable(engine: Engine) -> None:
    body = (
        '<bpmn:dataStoreReference id="core" name="core_banking" />\n'
        + START
        + '<bpmn:scriptTask id="t"><bpmn:incoming>f1</bpmn:incoming>'
        "<bpmn:outgoing>f2</bpmn:outgoing>"
        '<bpmn:dataInputAssociation id="in1"><bpmn:sourceRef>core</bpmn:sourceRef>'
        "</bpmn:dataInputAssociation>"
        "<bpmn:script>seen = 1</bpmn:script></bpmn:scriptTask>\n"
        + ends("f2")
        + flow("f1", "s", "t")
        + flow("f2", "t", "end_0")
    )
    data = run(engine, body)
    assert data["seen"] == 1
    assert any("data store 'core_banking'" in n["message"] for n in data["report"])


def test_compensation_is_refused_by_element_id(engine: Engine) -> None:
    body = (
        START + '<bpmn:intermediateThrowEvent id="undo"><bpmn:incoming>f1</bpmn:incoming>'
        "<bpmn:outgoing>f2</bpmn:outgoing><bpmn:compensateEventDefinition />"
        "</bpmn:intermediateThrowEvent>\n"
        + ends("f2")
        + flow("f1", "s", "undo")
        + flow("f2", "undo", "end_0")
    )
    with pytest.raises(DeploymentError) as caught:
        engine.deploy({"p.bpmn": HEAD + body + TAIL}, tenant=TENANT)
    (problem,) = caught.value.problems
    assert problem.element == "undo" and "compensation" in problem.message
