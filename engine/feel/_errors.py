"""The errors FEEL raises, kept apart from ``loanflow.errors`` so the language stays reusable.

::

    FeelError (PositionedError)   message, text, position (0-based offset into text, or None)
     ├── FeelSyntaxError     raised by compile_*: the text is not FEEL we can run
     └── FeelEvalError       raised while evaluating; type mismatches are null instead

Callers that turn these into deployment problems want the position, so it is an attribute
rather than only part of the message.
"""

from __future__ import annotations

from loanflow.engine.positioned import PositionedError

__all__ = ["FeelError", "FeelEvalError", "FeelSyntaxError"]


class FeelError(PositionedError):
    """Root of every error the FEEL package raises on purpose."""


class FeelSyntaxError(FeelError):
    """The text cannot be compiled; ``position`` points at the offending token."""


class FeelEvalError(FeelError):
    """Evaluation failed for a reason other than a type mismatch (those give null)."""
