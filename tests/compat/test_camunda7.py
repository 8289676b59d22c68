"""Camunda 7 diagrams: call-activity variable mappings, engine hints, other vendors' marks."""

from __future__ import annotations

from factories import assert_round_trip

from loanflow.engine import Engine

TENANT = "enshi"
NS = """xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:signavio="http://www.signavio.com"
    xmlns:modeler="http://camunda.org/schema/modeler/1.0"
    targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler"
    exporterVersion="5.20.0" modeler:executionPlatform="Camunda Platform\""""

CHILD = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS} id="child_defs">
  <bpmn:process id="score_child" isExecutable="true" camunda:historyTimeToLive="180">
    <bpmn:startEvent id="cs"><bpmn:outgoing>c1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="score" camunda:asyncBefore="true" scriptFormat="python">
      <bpmn:incoming>c1</bpmn:incoming><bpmn:outgoing>c2</bpmn:outgoing>
      <bpmn:script>result = limit * 2</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="ce"><bpmn:incoming>c2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="c1" sourceRef="cs" targetRef="score"/>
    <bpmn:sequenceFlow id="c2" sourceRef="score" targetRef="ce"/>
  </bpmn:process>
</bpmn:definitions>""".encode()

PARENT = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS} id="parent_defs">
  <bpmn:process id="parent" isExecutable="true">
    <bpmn:extensionElements><signavio:signavioMetaData metaKey="owner" metaValue="risk"/>
    </bpmn:extensionElements>
    <bpmn:startEvent id="ps"><bpmn:outgoing>p1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:callActivity id="call" calledElement="score_child">
      <bpmn:extensionElements>
        <camunda:in source="amount" target="amount"/>
        <camunda:in sourceExpression="${{amount / 10}}" target="limit"/>
        <camunda:out source="result" target="score"/>
        <camunda:out sourceExpression="${{empty secret}}" target="child_had_no_secret"/>
      </bpmn:extensionElements>
      <bpmn:incoming>p1</bpmn:incoming><bpmn:outgoing>p2</bpmn:outgoing>
    </bpmn:callActivity>
    <bpmn:endEvent id="pe"><bpmn:incoming>p2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="p1" sourceRef="ps" targetRef="call"/>
    <bpmn:sequenceFlow id="p2" sourceRef="call" targetRef="pe"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


def test_call_activity_passes_only_what_is_mapped(engine: Engine) -> None:
    info = engine.deploy({"child.bpmn": CHILD, "parent.bpmn": PARENT}, tenant=TENANT)
    started = engine.start(TENANT, "parent", variables={"amount": 5000, "secret": "x"})
    assert_round_trip(engine, started.id)
    done = engine.get_instance(TENANT, started.id)
    assert done.state == "completed" and done.variables is not None
    assert done.variables["score"] == 1000
    assert done.variables["child_had_no_secret"] is True  # "secret" stayed behind
    assert "result" not in done.variables and done.variables["secret"] == "x"
    ignored = {(n["element"], n["message"]) for n in info.report if n["kind"] == "ignored"}
    assert ("score", "engine hints accepted and ignored: camunda:asyncBefore") in ignored
    assert any("signavio" in message for _, message in ignored)


ASSIGNED = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS} id="assigned_defs">
  <bpmn:process id="assigned" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="approve"
        camunda:candidateGroups="${{amount &gt; 300000 ? 'head_approver' : 'branch_approver'}}"
        camunda:assignee="${{empty officer ? null : officer}}" camunda:dueDate="${{due}}">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="approve"/>
    <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


def test_assignments_in_juel(engine: Engine) -> None:
    engine.deploy({"assigned.bpmn": ASSIGNED}, tenant=TENANT)
    big = engine.start(
        TENANT, "assigned", variables={"amount": 500000, "officer": "", "due": "P2D"}
    )
    small = engine.start(
        TENANT, "assigned", variables={"amount": 1000, "officer": "li.si", "due": "P2D"}
    )
    (big_task,) = engine.user_tasks(TENANT, instance_id=big.id)
    (small_task,) = engine.user_tasks(TENANT, instance_id=small.id)
    assert big_task.candidate_groups == ["head_approver"] and big_task.assignee is None
    assert small_task.candidate_groups == ["branch_approver"]
    assert small_task.assignee == "li.si"
    assert big_task.due_at is not None
    assert_round_trip(engine, big.id)
