"""The script engine SpiffWorkflow calls: every script and expression runs in the sandbox."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine

from loanflow.engine.clock import Clock
from loanflow.engine.sandbox import Sandbox, SandboxEnvironment

__all__ = ["LoanflowScriptEngine"]


class LoanflowScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    """Sandboxed evaluation plus the engine clock (timers read ``clock``)."""

    def __init__(self, sandbox: Sandbox, clock: Clock) -> None:
        super().__init__(environment=SandboxEnvironment(sandbox))
        self.sandbox = sandbox
        self.clock = clock

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "service tasks are external jobs in loanflow, never called inline"
        )
