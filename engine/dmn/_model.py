"""Reading DMN XML (1.1 to 1.3, as Camunda Modeler, dmn-js and SpiffArena save it).

Elements are matched by local name so that every DMN namespace version reads the same way;
diagram interchange (``DMNDI``) and vendor extensions are ignored. The result is plain data
with the source line of every cell, compiled afterwards by :mod:`._compile`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from loanflow.engine.dmn._errors import DmnProblem, DmnProblems

__all__ = [
    "HIT_POLICIES",
    "Cell",
    "DecisionSource",
    "InputSource",
    "OutputSource",
    "RuleSource",
    "read_decisions",
]

HIT_POLICIES = frozenset(
    {"UNIQUE", "FIRST", "PRIORITY", "ANY", "COLLECT", "RULE ORDER", "OUTPUT ORDER"}
)
AGGREGATIONS = frozenset({"SUM", "MIN", "MAX", "COUNT"})
_HIT_POLICY_ALIASES = {"RULE_ORDER": "RULE ORDER", "OUTPUT_ORDER": "OUTPUT ORDER"}


@dataclass(frozen=True)
class Cell:
    """The text of one expression or test, its language (``None``: decide by content) and line."""

    text: str
    language: str | None
    line: int | None
    element: str | None


@dataclass(frozen=True)
class InputSource:
    id: str
    label: str
    expression: Cell
    type_ref: str | None


@dataclass(frozen=True)
class OutputSource:
    id: str
    name: str
    label: str
    type_ref: str | None
    output_values: Cell | None


@dataclass(frozen=True)
class RuleSource:
    id: str
    number: int
    description: str
    inputs: tuple[Cell, ...]
    outputs: tuple[Cell, ...]


@dataclass
class DecisionSource:
    id: str
    name: str
    variable: str
    file: str
    line: int | None
    requires: list[str] = field(default_factory=list)
    hit_policy: str = "UNIQUE"
    aggregation: str | None = None
    inputs: list[InputSource] = field(default_factory=list)
    outputs: list[OutputSource] = field(default_factory=list)
    rules: list[RuleSource] = field(default_factory=list)
    literal: Cell | None = None
    table_id: str | None = None


def _local(node: Any) -> str:
    return str(etree.QName(node).localname)


def _children(node: Any, name: str) -> list[Any]:
    return [c for c in node if isinstance(c.tag, str) and _local(c) == name]


def _child(node: Any, name: str) -> Any | None:
    found = _children(node, name)
    return found[0] if found else None


def _cell(node: Any | None, default_language: str | None) -> Cell:
    if node is None:
        return Cell("", default_language, None, None)
    text_node = _child(node, "text")
    text = (text_node.text if text_node is not None else node.text) or ""
    language = node.get("expressionLanguage") or default_language
    where = text_node if text_node is not None else node
    return Cell(text.strip(), language, where.sourceline, node.get("id"))


def read_decisions(root: Any, file: str) -> list[DecisionSource]:
    """Every decision of a DMN ``definitions`` element; :class:`DmnProblems` if malformed."""
    if _local(root) != "definitions":
        raise DmnProblems([DmnProblem("not a DMN file: the root element is not <definitions>", 1)])
    problems: list[DmnProblem] = []
    language = root.get("expressionLanguage")
    decisions: list[DecisionSource] = []
    for node in _children(root, "decision"):
        decision_id = node.get("id")
        if not decision_id:
            problems.append(DmnProblem("a decision without an id", node.sourceline))
            continue
        name = node.get("name") or decision_id
        variable = _child(node, "variable")
        source = DecisionSource(
            id=decision_id,
            name=name,
            variable=(variable.get("name") if variable is not None else None) or decision_id,
            file=file,
            line=node.sourceline,
        )
        for req in _children(node, "informationRequirement"):
            required = _child(req, "requiredDecision")
            if required is not None and required.get("href"):
                source.requires.append(required.get("href").rsplit("#", 1)[-1])
        table = _child(node, "decisionTable")
        literal = _child(node, "literalExpression")
        if table is not None:
            _read_table(table, source, language, problems)
        elif literal is not None:
            source.literal = _cell(literal, language)
        else:
            problems.append(
                DmnProblem(
                    f"decision {decision_id!r} has neither a decision table nor a literal "
                    "expression (other decision logic is not supported)",
                    node.sourceline,
                    decision_id,
                )
            )
            continue
        decisions.append(source)
    if problems:
        raise DmnProblems(problems)
    if not decisions and not _children(root, "decision"):
        raise DmnProblems([DmnProblem("the DMN file has no decision", root.sourceline)])
    return decisions


def _read_table(
    table: Any, source: DecisionSource, language: str | None, problems: list[DmnProblem]
) -> None:
    source.table_id = table.get("id")
    policy = (table.get("hitPolicy") or "UNIQUE").strip().upper()
    policy = _HIT_POLICY_ALIASES.get(policy, policy)
    where = f"decision {source.id!r}"
    if policy not in HIT_POLICIES:
        problems.append(
            DmnProblem(f"{where}: unknown hit policy {policy!r}", table.sourceline, source.id)
        )
    source.hit_policy = policy
    aggregation = table.get("aggregation")
    if aggregation:
        aggregation = aggregation.strip().upper()
        if policy != "COLLECT" or aggregation not in AGGREGATIONS:
            problems.append(
                DmnProblem(
                    f"{where}: aggregation {aggregation!r} needs hit policy COLLECT and one of "
                    "SUM, MIN, MAX, COUNT",
                    table.sourceline,
                    source.id,
                )
            )
        source.aggregation = aggregation
    for number, node in enumerate(_children(table, "input"), 1):
        expression = _child(node, "inputExpression")
        label = node.get("label") or (expression is not None and _cell(expression, None).text)
        source.inputs.append(
            InputSource(
                id=node.get("id") or f"input{number}",
                label=str(label or f"input {number}"),
                expression=_cell(expression, language),
                type_ref=expression.get("typeRef") if expression is not None else None,
            )
        )
    for number, node in enumerate(_children(table, "output"), 1):
        values = _child(node, "outputValues")
        source.outputs.append(
            OutputSource(
                id=node.get("id") or f"output{number}",
                name=node.get("name") or "",
                label=node.get("label") or node.get("name") or f"output {number}",
                type_ref=node.get("typeRef"),
                output_values=_cell(values, language) if values is not None else None,
            )
        )
    for number, node in enumerate(_children(table, "rule"), 1):
        description = _child(node, "description")
        source.rules.append(
            RuleSource(
                id=node.get("id") or f"rule{number}",
                number=number,
                description=((description.text or "") if description is not None else "").strip(),
                inputs=tuple(_cell(c, language) for c in _children(node, "inputEntry")),
                outputs=tuple(_cell(c, language) for c in _children(node, "outputEntry")),
            )
        )
