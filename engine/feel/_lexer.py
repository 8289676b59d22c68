"""Turns FEEL text into tokens, each remembering its offset so errors can point at it.

Multi-word builtin names (``date and time``) are not joined here: the lexer cannot know whether
``a and b`` is a conjunction, so the parser joins words only in front of ``(``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from loanflow.engine.feel._errors import FeelSyntaxError

__all__ = ["KEYWORDS", "MAX_TEXT", "Token", "tokenize"]

MAX_TEXT: Final = 10_000

KEYWORDS: Final = frozenset(
    {"and", "or", "not", "if", "then", "else", "in", "between", "true", "false", "null"}
)
# Valid FEEL we do not run; reserving them gives "not supported" instead of a confusing error.
# (``return``, ``satisfies`` and ``external`` only follow these, so they stay usable as names:
# ``external.credit`` is a risk table's everyday input.)
UNSUPPORTED: Final = frozenset({"for", "some", "every", "function"})

_OPERATORS: Final = (
    "**",
    "..",
    "<=",
    ">=",
    "!=",
    "=",
    "<",
    ">",
    "+",
    "-",
    "*",
    "/",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    ":",
    "?",
)
_ESCAPES: Final = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "/": "/"}
_HINTS: Final = {
    "==": "'==' is not FEEL, use '='",
    "&&": "'&&' is not FEEL, use 'and'",
    "||": "'||' is not FEEL, use 'or'",
    "'": "strings use double quotes",
    "“": "strings use straight double quotes",
    "”": "strings use straight double quotes",
}


@dataclass(frozen=True, slots=True)
class Token:
    """``kind`` is one of num, str, name, kw, op, eof; ``value`` is the literal's value."""

    kind: str
    text: str
    pos: int
    value: Any = None

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of expression"
        if self.kind == "str":
            return f"string {self.text}"
        return f"'{self.text}'"


def _is_name_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_TEXT:
        raise FeelSyntaxError(f"expression longer than {MAX_TEXT} characters", text, MAX_TEXT)
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise FeelSyntaxError("unterminated comment", text, i)
            i = end + 2
        elif ch == '"':
            i = _string(text, i, tokens)
        elif ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            i = _number(text, i, tokens)
        elif _is_name_char(ch):
            start = i
            while i < n and _is_name_char(text[i]):
                i += 1
            word = text[start:i]
            if word in UNSUPPORTED:
                raise FeelSyntaxError(f"'{word}' expressions are not supported", text, start)
            kind = "kw" if word in KEYWORDS else "name"
            tokens.append(Token(kind, word, start))
        else:
            i = _operator(text, i, tokens)
    tokens.append(Token("eof", "", n))
    return tokens


def _operator(text: str, i: int, tokens: list[Token]) -> int:
    for hint, message in _HINTS.items():
        if text.startswith(hint, i):
            raise FeelSyntaxError(message, text, i)
    for op in _OPERATORS:
        if text.startswith(op, i):
            tokens.append(Token("op", op, i))
            return i + len(op)
    raise FeelSyntaxError(f"unexpected character {text[i]!r}", text, i)


def _number(text: str, start: int, tokens: list[Token]) -> int:
    i, n = start, len(text)
    while i < n and text[i].isdigit():
        i += 1
    is_float = False
    if i + 1 < n and text[i] == "." and text[i + 1].isdigit():
        is_float = True
        i += 1
        while i < n and text[i].isdigit():
            i += 1
    if i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        if j < n and text[j].isdigit():
            is_float = True
            i = j
            while i < n and text[i].isdigit():
                i += 1
    if i < n and _is_name_char(text[i]):
        raise FeelSyntaxError(f"invalid number {text[start : i + 1]!r}", text, start)
    raw = text[start:i]
    if not raw.isascii():
        raise FeelSyntaxError(f"invalid number {raw!r}", text, start)
    value: int | float
    try:
        value = float(raw) if is_float else int(raw)
    except ValueError:
        raise FeelSyntaxError("number too long", text, start) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise FeelSyntaxError("number out of range", text, start)
    tokens.append(Token("num", raw, start, value))
    return i


def _string(text: str, start: int, tokens: list[Token]) -> int:
    out: list[str] = []
    i, n = start + 1, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            tokens.append(Token("str", text[start : i + 1], start, "".join(out)))
            return i + 1
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = text[i + 1 : i + 2]
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i += 2
        elif esc == "u":
            digits = text[i + 2 : i + 6]
            if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise FeelSyntaxError("invalid \\u escape, expected 4 hex digits", text, i)
            out.append(chr(int(digits, 16)))
            i += 6
        else:
            # Kept as written so regular expressions read naturally: "\d+" is \d+.
            out.append("\\")
            i += 1
    raise FeelSyntaxError("unterminated string", text, start)
