"""Decision tables written the way Camunda Modeler 5 saves them (DMN 1.3 with DMNDI)."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from loanflow.engine.bpmn.parser import parse_xml
from loanflow.engine.dmn import Decision, compile_dmn, evaluate_decision

DMN13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"


def table_xml(
    rules: list[tuple[list[str], list[str]]],
    *,
    inputs: list[tuple[str, str | None]] | None = None,
    outputs: list[tuple[str, str | None]] | None = None,
    hit_policy: str = "UNIQUE",
    aggregation: str | None = None,
    output_values: dict[str, str] | None = None,
    decision_id: str = "decision",
    extra_decisions: str = "",
    requires: list[str] | None = None,
) -> bytes:
    """One decision table; ``inputs`` are (expression, typeRef), ``outputs`` (name, typeRef)."""
    inputs = inputs if inputs is not None else [("x", "number")]
    outputs = outputs if outputs is not None else [("result", "string")]
    agg = f' aggregation="{aggregation}"' if aggregation else ""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<definitions xmlns="{DMN13}" '
        'xmlns:dmndi="https://www.omg.org/spec/DMN/20191111/DMNDI/" '
        'xmlns:dc="http://www.omg.org/spec/DMN/20180521/DC/" '
        'xmlns:modeler="http://camunda.org/schema/modeler/1.0" '
        'id="Definitions_1" name="DRD" namespace="http://camunda.org/schema/1.0/dmn" '
        'exporter="Camunda Modeler" exporterVersion="5.17.0" '
        'modeler:executionPlatform="Camunda Platform" modeler:executionPlatformVersion="7.20.0">',
        f'  <decision id="{decision_id}" name="Decision {decision_id}">',
    ]
    for required in requires or []:
        lines.append(
            f'    <informationRequirement id="req_{required}">'
            f'<requiredDecision href="#{required}" /></informationRequirement>'
        )
    lines.append(f'    <decisionTable id="table_{decision_id}" hitPolicy="{hit_policy}"{agg}>')
    for i, (expression, type_ref) in enumerate(inputs):
        type_attr = f' typeRef="{type_ref}"' if type_ref else ""
        lines.append(
            f'      <input id="Input_{i}" label="in {i}">'
            f'<inputExpression id="InputExpression_{i}"{type_attr}>'
            f"<text>{escape(expression)}</text></inputExpression></input>"
        )
    for i, (name, type_ref) in enumerate(outputs):
        type_attr = f' typeRef="{type_ref}"' if type_ref else ""
        values = (output_values or {}).get(name)
        inner = (
            f'<outputValues id="OutputValues_{i}"><text>{escape(values)}</text></outputValues>'
            if values
            else ""
        )
        lines.append(
            f'      <output id="Output_{i}" label="out {i}" name="{name}"{type_attr}>'
            f"{inner}</output>"
        )
    for r, (tests, values) in enumerate(rules, 1):
        lines.append(f'      <rule id="Rule_{r}">')
        for c, text in enumerate(tests):
            lines.append(
                f'        <inputEntry id="UnaryTests_{r}_{c}">'
                f"<text>{escape(text)}</text></inputEntry>"
            )
        for c, text in enumerate(values):
            lines.append(
                f'        <outputEntry id="LiteralExpression_{r}_{c}">'
                f"<text>{escape(text)}</text></outputEntry>"
            )
        lines.append("      </rule>")
    lines += [
        "    </decisionTable>",
        "  </decision>",
        extra_decisions,
        '  <dmndi:DMNDI><dmndi:DMNDiagram id="DMNDiagram_1">'
        f'<dmndi:DMNShape id="DMNShape_1" dmnElementRef="{decision_id}">'
        '<dc:Bounds height="80" width="180" x="160" y="100" /></dmndi:DMNShape>'
        "</dmndi:DMNDiagram></dmndi:DMNDI>",
        "</definitions>",
    ]
    return "\n".join(lines).encode()


def compile_one(xml: bytes, file: str = "table.dmn") -> dict[str, Decision]:
    return {d.id: d for d in compile_dmn(parse_xml(xml).getroot(), file)}


def decide(xml: bytes, context: dict[str, Any], decision_id: str = "decision") -> Any:
    decisions = compile_one(xml)
    result, _ = evaluate_decision(decisions[decision_id], decisions, context)
    return result
