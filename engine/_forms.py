"""Forms: the JSON Schemas of start events and user tasks, and server-side validation.

A deployment's own forms come before the packaged ones (``loanflow.forms``). Validators are
compiled once per definition and form key; a failed validation raises ``InvalidInput``
with one message per field path.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from loanflow.engine._state import EngineState
from loanflow.engine.deployments import ParsedProcess, packaged_forms
from loanflow.engine.errors import InvalidInput, NotFound

__all__ = ["FormsMixin"]


class FormsMixin(EngineState):
    """Looking up forms and validating submitted data against them."""

    def forms(self) -> dict[str, dict[str, Any]]:
        if self._forms is None:
            self._forms = packaged_forms()
        return self._forms

    def form(self, process: ParsedProcess, key: str) -> dict[str, Any]:
        form = process.forms.get(key) if process.forms else None
        if form is None:
            form = self.forms().get(key)
        if form is None:
            raise NotFound(f"form {key!r} not found")
        return form

    def _validate_form(self, process: ParsedProcess, key: str, data: dict[str, Any]) -> None:
        cache_key = (process.definition_id, key)
        validator = self._validators.get(cache_key)
        if validator is None:
            validator = Draft202012Validator(self.form(process, key))
            self._validators[cache_key] = validator
        problems: dict[str, str] = {}
        for error in validator.iter_errors(data):
            path = "/".join(str(p) for p in error.absolute_path) or "(root)"
            problems.setdefault(path, error.message)
        if problems:
            raise InvalidInput(
                f"data does not match form {key!r}: "
                + "; ".join(f"{p}: {m}" for p, m in problems.items()),
                problems,
            )
