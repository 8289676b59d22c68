"""The error shape the expression languages share (FEEL, JUEL): a message and where it is.

Kept apart from :mod:`loanflow.engine.errors` so the languages stay reusable on their own;
callers that turn these into deployment problems want the position, so it is an attribute
rather than only part of the message.
"""

from __future__ import annotations

__all__ = ["PositionedError"]


class PositionedError(ValueError):
    """``message``, the ``text`` it is about, and a 0-based ``position`` in it (or None)."""

    def __init__(self, message: str, text: str = "", position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.text = text
        self.position = position

    def __str__(self) -> str:
        if self.position is None:
            return self.message
        return f"{self.message} at column {self.position + 1}"
