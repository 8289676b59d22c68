"""Deploy-time validation: every problem answered with file, line and element; nothing stored."""

from __future__ import annotations

import pytest
from factories import diagram

from loanflow.engine import DeploymentError, Engine

SPIFF = diagram("spiff_basic.bpmn", "review.json")


def refused(engine: Engine, files: dict[str, bytes]) -> DeploymentError:
    with pytest.raises(DeploymentError) as caught:
        engine.deploy(files, tenant="enshi")
    assert engine.definitions("enshi") == []
    return caught.value


def test_xxe_is_refused(engine: Engine) -> None:
    xxe = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
&x;</bpmn:definitions>"""
    error = refused(engine, {"evil.bpmn": xxe})
    problem = error.problems[0]
    assert problem.file == "evil.bpmn" and problem.line == 2
    assert "DTD" in problem.message


def test_entity_bomb_is_refused(engine: Engine) -> None:
    bomb = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "&lol%s;&lol%s;&lol%s;&lol%s;&lol%s;">'
            % (
                i,
                b"" if i == 1 else b"%d" % (i - 1),
                b"" if i == 1 else b"%d" % (i - 1),
                b"" if i == 1 else b"%d" % (i - 1),
                b"" if i == 1 else b"%d" % (i - 1),
                b"" if i == 1 else b"%d" % (i - 1),
            )
            for i in range(1, 10)
        )
        + b"]>\n<root>&lol9;</root>"
    )
    error = refused(engine, {"bomb.bpmn": bomb})
    assert "entity" in error.problems[0].message.lower()


def test_malformed_xml_names_the_line(engine: Engine) -> None:
    broken = (
        b'<?xml version="1.0"?>\n'
        b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">\n'
        b'<bpmn:process id="p">\n</bpmn:definitions>'
    )
    problem = refused(engine, {"broken.bpmn": broken}).problems[0]
    assert problem.file == "broken.bpmn"
    assert problem.line == 4
    assert "well-formed" in problem.message


def test_unknown_topic_is_refused_when_the_tenant_asks_for_strict_topics(engine: Engine) -> None:
    bpmn = SPIFF["spiff_basic.bpmn"].replace(
        b'id="calc.repayment_schedule"', b'id="ocr.not_installed"'
    )
    engine.parameters.put("enshi", "deployment", {"strict_topics": True})
    problem = refused(engine, {**SPIFF, "spiff_basic.bpmn": bpmn}).problems[0]
    assert problem.element == "schedule"
    assert problem.line == 13
    assert "ocr.not_installed" in problem.message and "no worker" in problem.message


def test_unknown_topic_deploys_with_a_note_for_a_remote_worker(engine: Engine) -> None:
    files = diagram("camunda_basic.bpmn", "review.json")
    files["camunda_basic.bpmn"] = files["camunda_basic.bpmn"].replace(
        b'camunda:topic="identity.check_id_number"', b'camunda:topic="ocr.elsewhere"'
    )
    info = engine.deploy(files, tenant="enshi")
    (note,) = [n for n in info.report if "ocr.elsewhere" in str(n["message"])]
    assert note["element"] == "check_id" and note["line"] == 7
    assert "remote worker" in str(note["message"])


def test_an_unknown_spiff_service_operator_stays_an_error(engine: Engine) -> None:
    bpmn = SPIFF["spiff_basic.bpmn"].replace(
        b'id="calc.repayment_schedule"', b'id="ocr.not_installed"'
    )
    problem = refused(engine, {**SPIFF, "spiff_basic.bpmn": bpmn}).problems[0]
    assert problem.element == "schedule" and "serviceTaskOperator" in problem.message


def test_missing_form(engine: Engine) -> None:
    problem = refused(engine, {"spiff_basic.bpmn": SPIFF["spiff_basic.bpmn"]}).problems[0]
    assert problem.element == "review"
    assert "review" in problem.message and "does not exist" in problem.message


def test_service_task_without_topic(engine: Engine) -> None:
    bpmn = SPIFF["spiff_basic.bpmn"]
    start = bpmn.index(b"<bpmn:extensionElements>")
    end = bpmn.index(b"</bpmn:extensionElements>") + len(b"</bpmn:extensionElements>")
    problem = refused(engine, {**SPIFF, "spiff_basic.bpmn": bpmn[:start] + bpmn[end:]}).problems[0]
    assert problem.element == "schedule"
    assert "topic" in problem.message


def test_missing_dmn(engine: Engine) -> None:
    bpmn = b"""<?xml version="1.0"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:businessRuleTask id="grade">
      <bpmn:extensionElements><spiffworkflow:calledDecisionId>no_such_table</spiffworkflow:calledDecisionId></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="grade"/>
    <bpmn:sequenceFlow id="f2" sourceRef="grade" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""
    problem = refused(engine, {"rules.bpmn": bpmn}).problems[0]
    assert problem.element == "grade" and problem.line == 6
    assert "no_such_table" in problem.message


@pytest.mark.parametrize(
    ("script", "needle"),
    [
        ("import os", "import"),
        ("x = ().__class__.__bases__[0].__subclasses__()", "__class__"),
        ("total = (", "SyntaxError"),
    ],
)
def test_script_that_the_sandbox_refuses(engine: Engine, script: str, needle: str) -> None:
    bpmn = SPIFF["spiff_basic.bpmn"].replace(b"principal = amount * 1", script.encode())
    problem = refused(engine, {**SPIFF, "spiff_basic.bpmn": bpmn}).problems[0]
    assert problem.element == "prepare"
    assert problem.line is not None and problem.line >= 10
    assert needle in problem.message


def test_bad_condition_expression(engine: Engine) -> None:
    bpmn = diagram("camunda_basic.bpmn")["camunda_basic.bpmn"].replace(
        b">valid<", b">__import__('os')<"
    )
    problem = refused(
        engine, {"camunda_basic.bpmn": bpmn, "review.json": SPIFF["review.json"]}
    ).problems[0]
    assert problem.element == "f3"


def test_unsupported_constructs_are_refused_not_skipped(engine: Engine) -> None:
    bpmn = SPIFF["spiff_basic.bpmn"].replace(
        b'<bpmn:endEvent id="end_rejected">',
        b'<bpmn:endEvent id="end_rejected"><bpmn:compensateEventDefinition/>',
    )
    problem = refused(engine, {**SPIFF, "spiff_basic.bpmn": bpmn}).problems[0]
    assert "compensation" in problem.message and problem.element == "end_rejected"


def test_every_problem_is_listed(engine: Engine) -> None:
    error = refused(
        engine,
        {
            "a.bpmn": b"<not-closed>",
            "b.txt": b"hello",
            "c.json": b"{not json",
        },
    )
    assert sorted(p.file for p in error.problems) == ["a.bpmn", "b.txt", "c.json"]
    assert "a.bpmn" in str(error)


def test_empty_bundle(engine: Engine) -> None:
    assert "no files" in refused(engine, {}).problems[0].message
