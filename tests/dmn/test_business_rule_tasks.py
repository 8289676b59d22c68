"""Business rule tasks in running processes: results, the audit trail and errors."""

from __future__ import annotations

import pytest
from dmn_builder import table_xml
from factories import assert_round_trip, only

from loanflow.engine import DeploymentError, Engine, ProcessError
from loanflow.engine.runner import EmbeddedRunner

TENANT = "enshi"

GRADES = table_xml(
    [
        (["< 600", "-"], ['"C"', "0"]),
        (["[600..700[", "<= 200000"], ['"B"', "amount"]),
        (["[600..700[", "> 200000"], ['"B"', "200000"]),
        ([">= 700", "-"], ['"A"', "amount"]),
    ],
    inputs=[("score", "number"), ("amount", "number")],
    outputs=[("grade", "string"), ("limit", "number")],
    decision_id="grades",
)


def process(task_attributes: str, *, before: str = "") -> bytes:
    """start → [a service task] → business rule task → end, as Camunda Modeler writes it."""
    service = (
        '<bpmn:serviceTask id="echo" camunda:type="external" camunda:topic="test.echo">'
        "<bpmn:extensionElements><camunda:inputOutput>"
        '<camunda:inputParameter name="value">${score}</camunda:inputParameter>'
        "</camunda:inputOutput></bpmn:extensionElements>"
        "<bpmn:incoming>f0</bpmn:incoming><bpmn:outgoing>f1</bpmn:outgoing></bpmn:serviceTask>"
        '<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="echo"/>'
        '<bpmn:sequenceFlow id="f1" sourceRef="echo" targetRef="decide"/>'
        if before
        else '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="decide"/>'
    )
    first = "f0" if before else "f1"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://bpmn.io/schema/bpmn"
    exporter="Camunda Modeler" exporterVersion="5.20.0">
  <bpmn:process id="grading" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>{first}</bpmn:outgoing></bpmn:startEvent>
    {service}
    <bpmn:businessRuleTask id="decide" name="Grade" camunda:decisionRef="grades" {task_attributes}>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="decide" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


def run(engine: Engine, variables: dict[str, object], attributes: str = "") -> dict[str, object]:
    engine.deploy({"grading.bpmn": process(attributes), "grades.dmn": GRADES}, tenant=TENANT)
    started = engine.start(TENANT, "grading", variables=variables)
    assert started.state == "completed"
    info = engine.get_instance(TENANT, started.id)
    assert info.variables is not None
    return {"id": started.id, **info.variables}


def test_outputs_are_merged_into_the_process_data(engine: Engine) -> None:
    data = run(engine, {"score": 650, "amount": 300000})
    assert data["grade"] == "B" and data["limit"] == 200000


def test_no_match_leaves_the_outputs_null(engine: Engine) -> None:
    data = run(engine, {"score": None, "amount": 1})
    assert data["grade"] is None and data["limit"] is None


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ("singleResult", {"grade": "A", "limit": 1000}),
        ("resultList", [{"grade": "A", "limit": 1000}]),
    ],
)
def test_result_variable_and_map_decision_result(
    engine: Engine, mapping: str, expected: object
) -> None:
    attributes = f'camunda:resultVariable="rating" camunda:mapDecisionResult="{mapping}"'
    data = run(engine, {"score": 720, "amount": 1000}, attributes)
    assert data["rating"] == expected
    assert "grade" not in data


def test_single_entry_of_a_two_output_table_is_an_error(engine: Engine) -> None:
    attributes = 'camunda:resultVariable="rating" camunda:mapDecisionResult="singleEntry"'
    engine.deploy({"grading.bpmn": process(attributes), "grades.dmn": GRADES}, tenant=TENANT)
    with pytest.raises(ProcessError, match="singleEntry: the result has 2 outputs"):
        engine.start(TENANT, "grading", variables={"score": 720, "amount": 1})


def test_the_audit_log_records_inputs_matched_rules_and_outputs(engine: Engine) -> None:
    data = run(engine, {"score": 650, "amount": 150000})
    (event,) = [
        e for e in engine.audit_events(TENANT, str(data["id"])) if e["kind"] == "decision.evaluated"
    ]
    assert event["data"]["decision"] == "grades"
    assert event["data"]["outputs"] == {"grade": "B", "limit": 150000}
    (evaluation,) = event["data"]["evaluations"]
    assert evaluation["inputs"] == {"in 0": 650, "in 1": 150000}
    assert evaluation["matched_rules"] == [{"number": 2, "id": "Rule_2"}]
    assert evaluation["hit_policy"] == "UNIQUE"


def test_a_missing_variable_fails_the_start_with_a_clear_message(engine: Engine) -> None:
    engine.deploy({"grading.bpmn": process(""), "grades.dmn": GRADES}, tenant=TENANT)
    with pytest.raises(ProcessError) as caught:
        engine.start(TENANT, "grading", variables={"amount": 1})
    message = str(caught.value)
    assert "decide failed" in message
    assert "decision 'grades', input 'in 0'" in message and "'score'" in message
    assert "Traceback" not in message


def test_a_decision_error_after_a_job_becomes_an_incident_naming_the_decision(
    engine: Engine,
) -> None:
    engine.deploy({"grading.bpmn": process("", before="echo"), "grades.dmn": GRADES}, tenant=TENANT)
    started = engine.start(TENANT, "grading", variables={"score": "high", "amount": 1})
    runner = EmbeddedRunner(engine, worker_id="dmn-test")
    runner.run_once()
    incident = only(engine.incidents(TENANT))
    assert "decision 'grades', input 'in 0': expected a number, got str 'high'" in incident.message
    assert engine.get_instance(TENANT, started.id).state == "running"
    assert_round_trip(engine, started.id)


def test_a_bad_cell_is_a_deploy_error_with_file_line_and_rule(engine: Engine) -> None:
    bad = GRADES.replace(b"[600..700[", b"[600..700")
    with pytest.raises(DeploymentError) as caught:
        engine.deploy({"grading.bpmn": process(""), "grades.dmn": bad}, tenant=TENANT)
    problem = caught.value.problems[0]
    assert problem.file == "grades.dmn"
    assert "rule 2 (Rule_2), column 1 'in 0'" in problem.message
    assert problem.line is not None and b"[600..700<" in bad.splitlines()[problem.line - 1]


def test_a_missing_decision_is_a_deploy_error(engine: Engine) -> None:
    with pytest.raises(DeploymentError, match="calls decision 'grades', which no DMN file"):
        engine.deploy({"grading.bpmn": process("")}, tenant=TENANT)


def test_a_decision_defined_twice_is_a_deploy_error(engine: Engine) -> None:
    with pytest.raises(DeploymentError, match=r"also defined in a\.dmn"):
        engine.deploy(
            {"grading.bpmn": process(""), "a.dmn": GRADES, "b.dmn": GRADES}, tenant=TENANT
        )
