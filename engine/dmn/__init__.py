"""DMN 1.3 decisions as risk teams author them, compiled once per deployment.

SpiffWorkflow's own DMN evaluates Python cells under UNIQUE (really: first match) and
COLLECT only. Business rule tasks in loanflow evaluate decision tables the way Camunda
Modeler and dmn-js write them instead:

- hit policies UNIQUE (two matches are an error), FIRST, PRIORITY and OUTPUT ORDER (by the
  order of an output's ``outputValues``), ANY (matches must agree), RULE ORDER, COLLECT and
  COLLECT with SUM / MIN / MAX / COUNT;
- FEEL unary tests and expressions (:mod:`loanflow.engine.feel`); Python cells from
  SpiffArena tables still work (see :mod:`._compile` for how a cell's language is chosen);
- decision requirement graphs and literal-expression decisions;
- a deploy-time :class:`DmnProblems` naming the decision, rule, column and line of every
  cell that does not parse, and at run time a :class:`DecisionError` naming the decision,
  rule and input (a missing variable, a value of the wrong type, two UNIQUE matches).

The private modules: ``_model`` reads the XML, ``_compile`` turns cells into callables,
``_table`` evaluates a table under its hit policy, ``_decisions`` holds the requirement graph
and the runner a business rule task calls.
"""

from loanflow.engine.dmn._decisions import (
    MAP_RESULTS,
    TRACE_KEY,
    Decision,
    DecisionRunner,
    check_requirements,
    compile_dmn,
    evaluate_decision,
)
from loanflow.engine.dmn._errors import DecisionError, DmnProblem, DmnProblems
from loanflow.engine.dmn._table import Evaluation

__all__ = [
    "MAP_RESULTS",
    "TRACE_KEY",
    "Decision",
    "DecisionError",
    "DecisionRunner",
    "DmnProblem",
    "DmnProblems",
    "Evaluation",
    "check_requirements",
    "compile_dmn",
    "evaluate_decision",
]
