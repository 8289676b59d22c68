"""What goes wrong with decisions, at deploy time and when they run.

::

    LoanflowError
     └── ProcessError
          └── DecisionError     a decision failed (``decision``, ``rule``, ``input``)
    DmnProblems (ValueError)    a DMN file cannot be deployed: every :class:`DmnProblem` in it
"""

from __future__ import annotations

from dataclasses import dataclass

from loanflow.engine.errors import ProcessError

__all__ = ["DecisionError", "DmnProblem", "DmnProblems"]


class DecisionError(ProcessError):
    """A decision could not be evaluated: a missing input, a wrong type, a hit-policy breach.

    The message names the decision, the rule (1-based number and id) and the input column so
    that a risk analyst can find the cell in the modeler.
    """

    def __init__(
        self,
        message: str,
        *,
        decision: str,
        rule: str | None = None,
        input: str | None = None,
    ) -> None:
        super().__init__(message, element=decision)
        self.decision = decision
        self.rule = rule
        self.input = input


@dataclass(frozen=True)
class DmnProblem:
    """One reason a DMN file cannot be deployed, with where it is."""

    message: str
    line: int | None = None
    element: str | None = None


class DmnProblems(ValueError):
    """All the problems found in one DMN file (every bad cell, not just the first)."""

    def __init__(self, problems: list[DmnProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems
