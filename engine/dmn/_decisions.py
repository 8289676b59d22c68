"""Decisions, their requirement graph, and the runner a business rule task calls.

A decision that requires others (``informationRequirement/requiredDecision`` in the DRD) is
evaluated after them, each at most once per evaluation; a required decision's result is
visible to the next under the decision's variable name and, for a single row, under each of
its output names (as Camunda does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loanflow.engine.dmn._compile import Compiled, current_sandbox
from loanflow.engine.dmn._errors import DecisionError, DmnProblem, DmnProblems
from loanflow.engine.dmn._model import read_decisions
from loanflow.engine.dmn._table import Evaluation, Table, _plain, compile_literal, compile_table
from loanflow.engine.errors import ScriptError
from loanflow.engine.feel import FeelError

__all__ = [
    "MAP_RESULTS",
    "TRACE_KEY",
    "Decision",
    "DecisionRunner",
    "check_requirements",
    "compile_dmn",
    "evaluate_decision",
]

#: where a business rule task leaves what it evaluated, for the command to audit and drop
TRACE_KEY = "lf_decisions"
MAP_RESULTS = frozenset({"singleEntry", "singleResult", "collectEntries", "resultList"})


@dataclass(frozen=True)
class Decision:
    id: str
    name: str
    variable: str
    file: str
    line: int | None
    requires: tuple[str, ...]
    table: Table | None
    literal: Compiled | None

    @property
    def output_names(self) -> list[str]:
        return self.table.output_names if self.table is not None else [self.variable]


def compile_dmn(root: Any, file: str) -> list[Decision]:
    """Every decision of one DMN file, compiled; :class:`DmnProblems` lists every bad cell."""
    problems: list[DmnProblem] = []
    decisions: list[Decision] = []
    for source in read_decisions(root, file):
        table = compile_table(source, problems) if source.literal is None else None
        literal = compile_literal(source, problems) if source.literal is not None else None
        if table is None and literal is None:
            continue
        decisions.append(
            Decision(
                id=source.id,
                name=source.name,
                variable=source.variable,
                file=file,
                line=source.line,
                requires=tuple(source.requires),
                table=table,
                literal=literal,
            )
        )
    if problems:
        raise DmnProblems(problems)
    return decisions


def check_requirements(decisions: Mapping[str, Decision]) -> list[DmnProblem]:
    """Required decisions that do not exist, and cycles, as problems."""
    problems: list[DmnProblem] = []
    for decision in decisions.values():
        for required in decision.requires:
            if required not in decisions:
                problems.append(
                    DmnProblem(
                        f"decision {decision.id!r} requires decision {required!r}, which is "
                        "not in the deployment",
                        decision.line,
                        decision.id,
                    )
                )
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for required in decisions[node].requires:
            if required not in decisions:
                continue
            if state.get(required) == 1:
                cycle = " → ".join([*path[path.index(required) :], required])
                problems.append(
                    DmnProblem(
                        f"decisions require each other in a cycle: {cycle}",
                        decisions[node].line,
                        node,
                    )
                )
            elif required not in state:
                visit(required, [*path, required])
        state[node] = 2

    for decision_id in decisions:
        if decision_id not in state:
            visit(decision_id, [decision_id])
    return problems


def evaluate_decision(
    decision: Decision, decisions: Mapping[str, Decision], context: Mapping[str, Any]
) -> tuple[Any, list[Evaluation]]:
    """The decision's result over ``context``, after its required decisions, and every table
    evaluation on the way (in order)."""
    evaluations: list[Evaluation] = []
    done: dict[str, Any] = {}
    scope = dict(context)

    def run(current: Decision) -> Any:
        for required in current.requires:
            if required in done:
                continue
            result = run(decisions[required])
            done[required] = result
            scope[decisions[required].variable] = result
            if isinstance(result, dict):
                scope.update(result)
        if current.table is not None:
            evaluation = current.table.evaluate(scope)
            evaluations.append(evaluation)
            return evaluation.result
        assert current.literal is not None
        try:
            value = current.literal.fn(scope)
        except (ScriptError, FeelError) as exc:
            raise DecisionError(
                f"decision {current.id!r}: literal expression failed: {exc}",
                decision=current.id,
            ) from exc
        evaluations.append(Evaluation(current.id, current.name, "LITERAL", {}, [], _plain(value)))
        return value

    return run(decision), evaluations


class DecisionRunner:
    """What a ``businessRuleTask`` holds: evaluates its decision over the task's data.

    Without ``result_variable`` the outputs are merged into the task data (SpiffWorkflow's
    behaviour: a single result's outputs by name, ``None`` when no rule matched; for several
    results each output name holds the list of values). With it, the result is stored under
    that one variable, shaped by ``map_result`` as in Camunda 7 (``singleEntry``,
    ``singleResult``, ``collectEntries``, ``resultList``, the default).
    """

    def __init__(
        self,
        decision: Decision,
        decisions: Mapping[str, Decision],
        result_variable: str | None = None,
        map_result: str | None = None,
    ) -> None:
        self.decision = decision
        self.decisions = decisions
        self.result_variable = result_variable
        self.map_result = map_result or "resultList"

    def evaluate(self, context: Mapping[str, Any], sandbox: Any = None) -> dict[str, Any]:
        """The variables to merge, and the evaluations under :data:`TRACE_KEY`."""
        token = current_sandbox.set(sandbox)
        try:
            result, evaluations = evaluate_decision(self.decision, self.decisions, context)
        finally:
            current_sandbox.reset(token)
        return {"variables": self._variables(result), TRACE_KEY: evaluations}

    def result(self, task: Any) -> dict[str, Any]:
        """SpiffWorkflow's entry point (``BusinessRuleTaskMixin._run_hook``)."""
        sandbox = getattr(getattr(task.workflow, "script_engine", None), "sandbox", None)
        answer = self.evaluate(task.data, sandbox)
        task.internal_data[TRACE_KEY] = [e.as_record() for e in answer[TRACE_KEY]]
        variables: dict[str, Any] = answer["variables"]
        return variables

    def _rows(self, result: Any) -> list[dict[str, Any]]:
        decision = self.decision
        if decision.table is None:
            return [{decision.variable: result}]
        if decision.table.aggregation:
            return [{decision.table.output_names[0]: result}]
        if decision.table.multiple:
            return list(result)
        return [] if result is None else [result]

    def _variables(self, result: Any) -> dict[str, Any]:
        decision = self.decision
        if self.result_variable:
            return {self.result_variable: self._mapped(self._rows(result))}
        if decision.table is None:
            return _nested({decision.variable: result})
        names = decision.table.output_names
        if decision.table.multiple:
            return _nested({n: [row[n] for row in result] for n in names})
        if decision.table.aggregation:
            return _nested({names[0]: result})
        return _nested(dict(result) if result is not None else dict.fromkeys(names))

    def _mapped(self, rows: list[dict[str, Any]]) -> Any:
        where = f"decision {self.decision.id!r}, mapDecisionResult {self.map_result}"
        if self.map_result == "resultList":
            return rows
        if self.map_result == "zeebe":
            # Camunda 8: one output is its value, several a context; several rules a list
            values = [next(iter(r.values())) if len(r) == 1 else r for r in rows]
            if self.decision.table is not None and self.decision.table.multiple:
                return values
            return values[0] if values else None
        if self.map_result == "collectEntries":
            if rows and len(rows[0]) > 1:
                raise DecisionError(
                    f"{where}: the result has {len(rows[0])} outputs, not one",
                    decision=self.decision.id,
                )
            return [next(iter(row.values())) for row in rows]
        if len(rows) > 1:
            raise DecisionError(
                f"{where}: {len(rows)} rules matched, not at most one", decision=self.decision.id
            )
        if not rows:
            return None
        if self.map_result == "singleResult":
            return rows[0]
        if len(rows[0]) > 1:
            raise DecisionError(
                f"{where}: the result has {len(rows[0])} outputs, not one",
                decision=self.decision.id,
            )
        return next(iter(rows[0].values()))


def _nested(values: dict[str, Any]) -> dict[str, Any]:
    """Output names with dots (``risk.grade``) become nested variables, as in SpiffWorkflow."""
    if not any("." in name for name in values):
        return values
    result: dict[str, Any] = {}
    for name, value in values.items():
        *parents, leaf = name.split(".")
        target = result
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return result
