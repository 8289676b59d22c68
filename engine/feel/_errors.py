"""The errors FEEL raises, kept apart from ``loanflow.errors`` so the language stays reusable.

::

    FeelError (ValueError)   message, text, position (0-based offset into text, or None)
     ├── FeelSyntaxError     raised by compile_*: the text is not FEEL we can run
     └── FeelEvalError       raised while evaluating; type mismatches are null instead

Callers that turn these into deployment problems want the position, so it is an attribute
rather than only part of the message.
"""

from __future__ import annotations

__all__ = ["FeelError", "FeelEvalError", "FeelSyntaxError"]


class FeelError(ValueError):
    """Root of every error the FEEL package raises on purpose."""

    def __init__(self, message: str, text: str = "", position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.text = text
        self.position = position

    def __str__(self) -> str:
        if self.position is None:
            return self.message
        return f"{self.message} at column {self.position + 1}"


class FeelSyntaxError(FeelError):
    """The text cannot be compiled; ``position`` points at the offending token."""


class FeelEvalError(FeelError):
    """Evaluation failed for a reason other than a type mismatch (those give null)."""
