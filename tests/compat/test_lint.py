"""``loanflow lint``: per element, executed / translated / ignored / rejected, and why."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from loanflow.engine.cli import app

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
    targetNamespace="x">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:task id="t"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing></bpmn:task>
    <bpmn:endEvent id="e1"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="e2"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e1"/>
    <bpmn:sequenceFlow id="f3" sourceRef="t" targetRef="e2"/>
  </bpmn:process>
</bpmn:definitions>
"""
COMPENSATION = DIAGRAM.replace(
    '<bpmn:endEvent id="e2">',
    '<bpmn:intermediateThrowEvent id="undo"><bpmn:compensateEventDefinition/>'
    '</bpmn:intermediateThrowEvent><bpmn:endEvent id="e2">',
)


def lint(tmp_path: Path, text: str, *args: str) -> tuple[int, list[dict[str, object]]]:
    path = tmp_path / "p.bpmn"
    path.write_text(text)
    result = CliRunner().invoke(app, ["lint", str(path), "--json", *args])
    return result.exit_code, json.loads(result.stdout)


def test_every_element_is_reported(tmp_path: Path) -> None:
    code, findings = lint(tmp_path, DIAGRAM)
    assert code == 0
    kinds = {(f["element"], f["kind"]) for f in findings}
    assert ("t", "translated") in kinds
    assert {("s", "executed"), ("e1", "executed"), ("f1", "executed")} <= kinds
    assert all(f["file"] == "p.bpmn" for f in findings)


def test_a_rejected_element_fails_the_lint(tmp_path: Path) -> None:
    code, findings = lint(tmp_path, COMPENSATION)
    assert code == 1
    (rejected,) = [f for f in findings if f["kind"] == "rejected"]
    assert rejected["element"] == "undo" and "compensation" in str(rejected["message"])


def test_the_table_leaves_executed_elements_out(tmp_path: Path) -> None:
    path = tmp_path / "p.bpmn"
    path.write_text(DIAGRAM)
    result = CliRunner().invoke(app, ["lint", str(path)])
    assert result.exit_code == 0
    rows = [line for line in result.stdout.splitlines() if "│" in line]
    assert any("translated" in row for row in rows)
    assert not any("executed" in row for row in rows)
    assert "6 executed" in result.stdout and "0 rejected" in result.stdout
