"""The errors JUEL raises, kept apart from ``loanflow.errors`` so the language stays reusable.

::

    JuelError (PositionedError)   message, text, position (0-based offset into text, or None)
     ├── JuelSyntaxError     raised by compile_expression: the text is not JUEL we can run
     └── JuelEvalError       raised while evaluating: unknown variable, failed coercion...

``position`` is an offset into the whole attribute text (``Loan ${id +}`` points past the
``${``), so a deployment problem can underline the right spot.
"""

from __future__ import annotations

from loanflow.engine.positioned import PositionedError

__all__ = ["JuelError", "JuelEvalError", "JuelSyntaxError"]


class JuelError(PositionedError):
    """Root of every error the JUEL package raises on purpose."""


class JuelSyntaxError(JuelError):
    """The text cannot be compiled; ``position`` points at the offending token."""


class JuelEvalError(JuelError):
    """Evaluation failed; Camunda would have thrown a ``ProcessEngineException`` here."""
