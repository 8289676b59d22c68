"""The one exception tree of loanflow.

Every error a caller can cause is one of these, with a message that says what to fix::

    LoanflowError
     ├── InvalidInput          bad variables, form data, arguments (``errors``: field paths)
     │    └── DeploymentError  a bundle that cannot deploy (``problems``: file, line, element)
     ├── NotFound              unknown process key, instance, task, job (or another tenant's)
     ├── Conflict              lost an optimistic-lock race, object in the wrong state, stale lock
     ├── Forbidden             allowed in general but not to this person (separation of duties)
     ├── ProcessError          a diagram failed while running (``element``, ``line``)
     │    └── ScriptError      a script or expression refused, failed or ran too long
     ├── WorkerError           a worker failed in a way worth retrying
     └── BusinessError         a worker's business outcome, thrown as a BPMN error (``code``)

Only ``loanflow.api`` turns these into HTTP answers; nothing here knows about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "BusinessError",
    "Conflict",
    "DeploymentError",
    "Forbidden",
    "InvalidInput",
    "LoanflowError",
    "NotFound",
    "Problem",
    "ProcessError",
    "ScriptError",
    "WorkerError",
]


class LoanflowError(Exception):
    """Root of every error loanflow raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(LoanflowError):
    """The caller sent something that cannot be used; ``errors`` maps field paths to reasons."""

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a deployment, located as precisely as the source allows."""

    file: str
    message: str
    line: int | None = None
    element: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.element:
            where += f" ({self.element})"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "element": self.element,
            "message": self.message,
        }


class DeploymentError(InvalidInput):
    """A bundle was refused; nothing of it was stored."""

    def __init__(self, problems: list[Problem]) -> None:
        lines = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"deployment refused: {lines}{more}")
        self.problems = problems


class NotFound(LoanflowError):
    """No such object for this tenant. Another tenant's object is reported the same way."""


class Conflict(LoanflowError):
    """The object changed under the caller or is not in a state that allows the command."""


class Forbidden(LoanflowError):
    """The caller may do this kind of thing, but not to this object (e.g. separation of duties)."""


class ProcessError(LoanflowError):
    """A diagram failed while running; nothing of the command was saved."""

    def __init__(self, message: str, element: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.element = element
        self.line = line


class ScriptError(ProcessError):
    """A script or expression was refused by the sandbox, raised, or exceeded its time bound."""


class WorkerError(LoanflowError):
    """A worker failed in a way that is worth retrying (network, timeout, a bug fixed later).

    ``retryable=False`` marks a failure no retry can fix (bad input, a wrong result type):
    the runner raises an incident at once instead of spending the retries.
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class BusinessError(LoanflowError):
    """A business outcome the diagram handles: thrown as the BPMN error ``code``.

    ``variables`` are merged into the process data where the error is caught.
    """

    def __init__(
        self, code: str, message: str | None = None, variables: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message or code)
        self.code = code
        self.variables = variables or {}
