"""A Camunda 8 (Zeebe) diagram as Camunda Modeler saves it, run to the end."""

from __future__ import annotations

import pytest
from factories import DIAGRAMS, assert_round_trip, only

from loanflow.engine import Engine
from loanflow.engine.runner import EmbeddedRunner

TENANT = "enshi"
REVIEW_FORM = b'{"type": "object", "properties": {"decision": {"type": "string"}}}'


def deploy(engine: Engine) -> list[dict[str, object]]:
    files = {
        name: (DIAGRAMS / "compat" / name).read_bytes()
        for name in ("zeebe_loan.bpmn", "zeebe_grade.dmn")
    }
    info = engine.deploy({**files, "review.json": REVIEW_FORM}, tenant=TENANT)
    return info.report


@pytest.mark.parametrize(("amount", "reviewed"), [(20000, False), (90000, True)])
def test_a_zeebe_loan_runs_through_jobs_decisions_tasks_and_a_loop(
    engine: Engine, amount: int, reviewed: bool
) -> None:
    report = deploy(engine)
    assert any("multi-instance over 'guarantors'" in str(n["message"]) for n in report)
    started = engine.start(
        TENANT,
        "zeebe_loan",
        variables={"applicant": {"name": "张三"}, "amount": amount, "guarantors": ["甲", "乙"]},
    )
    (job,) = engine.job_list(TENANT, instance_id=started.id)
    assert job.topic == "test.echo" and job.retries == 2
    EmbeddedRunner(engine, worker_id="zeebe-test").run_once()
    assert_round_trip(engine, started.id)
    if reviewed:
        task = only(engine.user_tasks(TENANT, instance_id=started.id))
        assert task.candidate_groups == ["reviewer"] and task.form_key == "review"
        engine.complete_user_task(TENANT, task.id, {"decision": "approve"})
        assert_round_trip(engine, started.id)
    info = engine.get_instance(TENANT, started.id)
    assert info.state == "completed", info
    data = info.variables
    assert data is not None
    assert data["checked_name"] == "张三"
    assert data["grade"] == ("B" if reviewed else "A")
    assert data["decision"] == "approve"
    assert data["confirmations"] == ["甲 confirmed", "乙 confirmed"]


def test_the_worker_gets_the_mapped_input_and_the_task_headers(engine: Engine) -> None:
    deploy(engine)
    started = engine.start(
        TENANT,
        "zeebe_loan",
        variables={"applicant": {"name": "李四"}, "amount": 1, "guarantors": []},
    )
    (job,) = engine.fetch_and_lock("zeebe-test", ["test.echo"])
    assert job.instance_id == started.id
    assert job.input == {"value": "李四", "headers": {"channel": "branch"}}


WAITS_FOR_SIGNATURE = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="x">
  <bpmn:message id="Message_signed" name="contract_signed">
    <bpmn:extensionElements><zeebe:subscription correlationKey="=application_id" />
    </bpmn:extensionElements>
  </bpmn:message>
  <bpmn:process id="await_signature" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="signed"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:messageEventDefinition messageRef="Message_signed" /></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="signed" />
    <bpmn:sequenceFlow id="f2" sourceRef="signed" targetRef="e" />
  </bpmn:process>
</bpmn:definitions>"""


def test_a_message_correlates_by_its_zeebe_correlation_key(engine: Engine) -> None:
    engine.deploy({"await.bpmn": WAITS_FOR_SIGNATURE}, tenant=TENANT)
    first = engine.start(TENANT, "await_signature", variables={"application_id": "APP-1"})
    second = engine.start(TENANT, "await_signature", variables={"application_id": "APP-2"})
    engine.correlate(TENANT, "contract_signed", {"correlationKey": "APP-2"}, {"signed_by": "张三"})
    assert engine.get_instance(TENANT, second.id).state == "completed"
    assert engine.get_instance(TENANT, first.id).state == "running"
    assert_round_trip(engine, first.id)


def zeebe_process(body: str, process_id: str = "z") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d_{process_id}" targetNamespace="x">
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    {body}
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t" />
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e" />
  </bpmn:process>
</bpmn:definitions>""".encode()


def test_a_zeebe_call_activity_calls_by_process_id(engine: Engine) -> None:
    child = zeebe_process(
        '<bpmn:scriptTask id="t"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>'
        "<bpmn:script>doubled = amount * 2</bpmn:script></bpmn:scriptTask>",
        "child",
    )
    parent = zeebe_process(
        '<bpmn:callActivity id="t"><bpmn:extensionElements>'
        '<zeebe:calledElement processId="child" propagateAllChildVariables="true" />'
        "</bpmn:extensionElements><bpmn:incoming>f1</bpmn:incoming>"
        "<bpmn:outgoing>f2</bpmn:outgoing></bpmn:callActivity>",
        "parent",
    )
    engine.deploy({"child.bpmn": child, "parent.bpmn": parent}, tenant=TENANT)
    started = engine.start(TENANT, "parent", variables={"amount": 21})
    assert_round_trip(engine, started.id)
    info = engine.get_instance(TENANT, started.id)
    assert info.state == "completed" and info.variables is not None
    assert info.variables["doubled"] == 42


@pytest.mark.parametrize(
    ("body", "element", "needle"),
    [
        (
            '<bpmn:serviceTask id="t"><bpmn:extensionElements>'
            '<zeebe:taskDefinition type="=topic_of(kind)" /></bpmn:extensionElements>'
            "<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>"
            "</bpmn:serviceTask>",
            "t",
            "computed by an expression",
        ),
        (
            '<bpmn:subProcess id="t"><bpmn:incoming>f1</bpmn:incoming>'
            "<bpmn:outgoing>f2</bpmn:outgoing>"
            "<bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements>"
            '<zeebe:loopCharacteristics inputCollection="=items[1..3]" inputElement="item" />'
            "</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics>"
            '<bpmn:startEvent id="ss" /></bpmn:subProcess>',
            "t",
            "computed collections",
        ),
        (
            '<bpmn:complexGateway id="t"><bpmn:incoming>f1</bpmn:incoming>'
            "<bpmn:outgoing>f2</bpmn:outgoing></bpmn:complexGateway>",
            "t",
            "complex gateways",
        ),
    ],
)
def test_what_cannot_run_is_refused_by_name(
    engine: Engine, body: str, element: str, needle: str
) -> None:
    from loanflow.engine import DeploymentError

    with pytest.raises(DeploymentError) as caught:
        engine.deploy({"z.bpmn": zeebe_process(body)}, tenant=TENANT)
    assert any(p.element == element and needle in p.message for p in caught.value.problems), (
        caught.value.problems
    )
