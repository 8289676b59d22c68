"""A compiled decision table and its hit policies.

Compilation happens once per deployment; :meth:`Table.evaluate` evaluates each input
expression once, then runs the rules' precompiled tests over those values. FIRST stops at
the first match; the other policies look at every rule because their result (or their
error: two matches under UNIQUE, different outputs under ANY) depends on all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from loanflow.engine.dmn._compile import (
    Compiled,
    compile_cell_expression,
    compile_cell_test,
)
from loanflow.engine.dmn._errors import DecisionError, DmnProblem
from loanflow.engine.dmn._model import DecisionSource
from loanflow.engine.errors import ScriptError
from loanflow.engine.feel import FeelError, compile_expression

__all__ = ["Evaluation", "Table", "compile_table"]

_SINGLE = frozenset({"UNIQUE", "FIRST", "PRIORITY", "ANY"})
_NUMBER_TYPES = frozenset({"number", "integer", "long", "double", "int", "decimal"})


@dataclass(frozen=True)
class _Input:
    id: str
    label: str
    text: str
    evaluate: Any
    names: frozenset[str]
    type_ref: str | None


@dataclass(frozen=True)
class _Output:
    id: str
    name: str
    label: str
    ranks: dict[Any, int] | None


@dataclass(frozen=True)
class _Rule:
    id: str
    number: int
    description: str
    tests: tuple[tuple[int, Any], ...]
    outputs: tuple[Any, ...]

    def label(self) -> str:
        return f"rule {self.number} ({self.id})"


@dataclass
class Evaluation:
    """What one evaluation of one table did: for the audit log and the risk report."""

    decision: str
    name: str
    hit_policy: str
    inputs: dict[str, Any]
    matched: list[dict[str, Any]]
    result: Any

    def as_record(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "name": self.name,
            "hit_policy": self.hit_policy,
            "inputs": self.inputs,
            "matched_rules": self.matched,
            "result": self.result,
        }


class Table:
    """One decision table, ready to evaluate many times."""

    def __init__(
        self,
        source: DecisionSource,
        inputs: list[_Input],
        outputs: list[_Output],
        rules: list[_Rule],
    ) -> None:
        self.id = source.id
        self.name = source.name
        self.file = source.file
        self.hit_policy = source.hit_policy
        self.aggregation = source.aggregation
        self.inputs = inputs
        self.outputs = outputs
        self.output_names = [o.name for o in outputs]
        self.rules = rules
        self.multiple = not (self.hit_policy in _SINGLE or self.aggregation)

    # -- evaluation ---------------------------------------------------------------------------

    def _error(self, message: str, rule: _Rule | None = None, column: _Input | None = None) -> Any:
        parts = [f"decision {self.id!r}"]
        if rule is not None:
            parts.append(rule.label())
        if column is not None:
            parts.append(f"input {column.label!r}")
        return DecisionError(
            f"{', '.join(parts)}: {message}",
            decision=self.id,
            rule=rule.id if rule is not None else None,
            input=column.label if column is not None else None,
        )

    def _input_values(self, context: Mapping[str, Any]) -> list[Any]:
        values: list[Any] = []
        for column in self.inputs:
            missing = [n for n in column.names if n not in context]
            if missing:
                raise self._error(
                    f"reads {', '.join(map(repr, sorted(missing)))}, which the process does "
                    f"not have (input expression {column.text!r})",
                    column=column,
                )
            try:
                value = column.evaluate(context)
            except (ScriptError, FeelError) as exc:
                raise self._error(f"{column.text!r} failed: {exc}", column=column) from exc
            values.append(_typed(value, column, self))
        return values

    def _outputs(self, rule: _Rule, context: Mapping[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for output, evaluate in zip(self.outputs, rule.outputs, strict=True):
            try:
                row[output.name] = None if evaluate is None else evaluate(context)
            except (ScriptError, FeelError) as exc:
                raise self._error(f"output {output.label!r} failed: {exc}", rule) from exc
        return row

    def evaluate(self, context: Mapping[str, Any]) -> Evaluation:
        values = self._input_values(context)
        matched: list[_Rule] = []
        first = self.hit_policy == "FIRST"
        for rule in self.rules:
            try:
                for index, test in rule.tests:
                    if not test(values[index], context):
                        break
                else:
                    matched.append(rule)
                    if first:
                        break
            except (ScriptError, FeelError) as exc:
                raise self._error(str(exc), rule) from exc
        rows = [self._outputs(rule, context) for rule in matched]
        result = self._apply_policy(matched, rows)
        return Evaluation(
            decision=self.id,
            name=self.name,
            hit_policy=self.hit_policy + (f" {self.aggregation}" if self.aggregation else ""),
            inputs={c.label: _plain(v) for c, v in zip(self.inputs, values, strict=True)},
            matched=[{"number": r.number, "id": r.id} for r in matched],
            result=result,
        )

    def _apply_policy(self, matched: list[_Rule], rows: list[dict[str, Any]]) -> Any:
        policy = self.hit_policy
        if policy == "UNIQUE" and len(matched) > 1:
            raise self._error(
                "hit policy UNIQUE, but " + " and ".join(r.label() for r in matched) + " all match"
            )
        if policy == "ANY" and any(row != rows[0] for row in rows[1:]):
            different = next(r for r, row in zip(matched, rows, strict=True) if row != rows[0])
            raise self._error(
                f"hit policy ANY, but {matched[0].label()} and {different.label()} match with "
                "different outputs"
            )
        if policy in ("PRIORITY", "OUTPUT ORDER") and rows:
            order = sorted(range(len(rows)), key=lambda i: self._rank(rows[i], matched[i]))
            rows = [rows[i] for i in order]
        if self.aggregation:
            return self._aggregate([row[self.output_names[0]] for row in rows])
        if not self.multiple:
            return rows[0] if rows else None
        return rows

    def _rank(self, row: dict[str, Any], rule: _Rule) -> tuple[int, ...]:
        ranks: list[int] = []
        for output in self.outputs:
            if output.ranks is None:
                continue
            rank = output.ranks.get(_hashable(row[output.name]))
            if rank is None:
                raise self._error(
                    f"output {output.label!r} is {row[output.name]!r}, which is not among "
                    f"its output values, so hit policy {self.hit_policy} cannot order it",
                    rule,
                )
            ranks.append(rank)
        return tuple(ranks)

    def _aggregate(self, values: list[Any]) -> Any:
        if self.aggregation == "COUNT":
            return sum(1 for v in values if v is not None)
        present = [v for v in values if v is not None]
        if not present:
            return None
        numbers = all(
            isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in present
        )
        if self.aggregation == "SUM" and not numbers:
            raise self._error(f"COLLECT SUM needs numbers, got {present!r}")
        try:
            if self.aggregation == "SUM":
                return sum(present)
            return min(present) if self.aggregation == "MIN" else max(present)
        except TypeError as exc:
            raise self._error(f"COLLECT {self.aggregation} over {present!r}: {exc}") from exc


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else repr(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _typed(value: Any, column: _Input, table: Table) -> Any:
    """Check an input against its ``typeRef``; ISO strings become dates, null passes."""
    type_ref = (column.type_ref or "").lower()
    if value is None or not type_ref:
        return value
    ok = True
    if type_ref in _NUMBER_TYPES:
        ok = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    elif type_ref == "string":
        ok = isinstance(value, str)
    elif type_ref == "boolean":
        ok = isinstance(value, bool)
    elif type_ref == "date" and not (isinstance(value, date) and not isinstance(value, datetime)):
        try:
            return date.fromisoformat(str(value)[:10]) if isinstance(value, str) else value.date()
        except (ValueError, AttributeError):
            ok = False
    elif type_ref in ("datetime", "date and time") and not isinstance(value, datetime):
        try:
            return datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            ok = False
    if not ok:
        raise table._error(
            f"expected a {column.type_ref}, got {type(value).__name__} {value!r}", column=column
        )
    return value


def compile_table(source: DecisionSource, problems: list[DmnProblem]) -> Table | None:
    """Compile every cell of a table; each bad cell is appended to ``problems``."""
    count = len(problems)
    where = f"decision {source.id!r}"
    inputs: list[_Input] = []
    for number, column in enumerate(source.inputs, 1):
        compiled = compile_cell_expression(
            column.expression, f"{where}, input {number} {column.label!r} expression"
        )
        if isinstance(compiled, DmnProblem):
            problems.append(compiled)
            continue
        inputs.append(
            _Input(
                column.id,
                column.label,
                column.expression.text,
                compiled.fn,
                compiled.names,
                column.type_ref,
            )
        )
    outputs: list[_Output] = []
    names = [o.name for o in source.outputs]
    if not source.outputs:
        problems.append(DmnProblem(f"{where}: the table has no output", source.line, source.id))
    if len(source.outputs) > 1 and (not all(names) or len(set(names)) != len(names)):
        problems.append(
            DmnProblem(f"{where}: every output needs its own name", source.line, source.id)
        )
    if source.aggregation and len(source.outputs) > 1:
        problems.append(
            DmnProblem(
                f"{where}: COLLECT {source.aggregation} works on exactly one output",
                source.line,
                source.id,
            )
        )
    for output in source.outputs:
        outputs.append(
            _Output(output.id, output.name, output.label, _ranks(source, output, problems))
        )
    if source.hit_policy in ("PRIORITY", "OUTPUT ORDER") and not any(o.ranks for o in outputs):
        problems.append(
            DmnProblem(
                f"{where}: hit policy {source.hit_policy} needs output values on an output "
                "(their order is the priority)",
                source.line,
                source.id,
            )
        )
    rules: list[_Rule] = []
    for rule in source.rules:
        label = f"{where}, rule {rule.number} ({rule.id})"
        if len(rule.inputs) != len(source.inputs) or len(rule.outputs) != len(source.outputs):
            line = (rule.inputs or rule.outputs)[0].line if (rule.inputs or rule.outputs) else None
            problems.append(
                DmnProblem(
                    f"{label}: has {len(rule.inputs)} input and {len(rule.outputs)} output "
                    f"entries, the table has {len(source.inputs)} and {len(source.outputs)}",
                    line or source.line,
                    rule.id,
                )
            )
            continue
        tests: list[tuple[int, Any]] = []
        for index, (cell, column) in enumerate(zip(rule.inputs, source.inputs, strict=True)):
            test = compile_cell_test(cell, f"{label}, column {index + 1} {column.label!r}")
            if isinstance(test, DmnProblem):
                problems.append(test)
            elif test is not None:
                tests.append((index, test.fn))
        evaluators: list[Any] = []
        for index, (cell, output) in enumerate(zip(rule.outputs, source.outputs, strict=True)):
            if not cell.text:
                evaluators.append(None)
                continue
            compiled = compile_cell_expression(
                cell, f"{label}, output {index + 1} {output.label!r}"
            )
            if isinstance(compiled, DmnProblem):
                problems.append(compiled)
            else:
                evaluators.append(compiled.fn)
        rules.append(_Rule(rule.id, rule.number, rule.description, tuple(tests), tuple(evaluators)))
    if len(problems) > count:
        return None
    return Table(source, inputs, outputs, rules)


def _ranks(
    source: DecisionSource, output: Any, problems: list[DmnProblem]
) -> dict[Any, int] | None:
    cell = output.output_values
    if cell is None or not cell.text:
        return None
    try:
        values = compile_expression(f"[{cell.text}]")({})
    except FeelError as exc:
        problems.append(
            DmnProblem(
                f"decision {source.id!r}, output {output.label!r}: output values "
                f"{cell.text!r} are not a list of literals: {exc}",
                cell.line,
                cell.element,
            )
        )
        return None
    return {_hashable(v): rank for rank, v in enumerate(values or [])}


def compile_literal(source: DecisionSource, problems: list[DmnProblem]) -> Compiled | None:
    assert source.literal is not None
    compiled = compile_cell_expression(
        source.literal, f"decision {source.id!r}, literal expression"
    )
    if isinstance(compiled, DmnProblem):
        problems.append(compiled)
        return None
    return compiled
