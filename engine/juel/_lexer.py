"""Turns the inside of one ``${...}`` into tokens, each remembering its offset in the text.

The lexer starts just after ``${`` and stops at the first ``}`` outside a string literal (JUEL
2.2 has no braces of its own), so the caller learns where the expression ends. Word operators
(``and``, ``eq``, ``div``...) become the same tokens as their symbols, with the word kept in
``text`` for messages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from loanflow.engine.juel._errors import JuelSyntaxError

__all__ = ["MAX_TEXT", "Token", "tokenize"]

MAX_TEXT: Final = 10_000

_WORD_OPS: Final = {
    "and": "&&",
    "or": "||",
    "not": "!",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "gt": ">",
    "le": "<=",
    "ge": ">=",
    "div": "/",
    "mod": "%",
    "empty": "empty",
}
_CONSTANTS: Final = {"true": True, "false": False, "null": None}
_SYMBOLS: Final = (
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    "<",
    ">",
    "!",
    "+",
    "-",
    "*",
    "/",
    "%",
    "?",
    ":",
    "(",
    ")",
    "[",
    "]",
    ".",
    ",",
    "}",
)
_HINTS: Final = {
    "=": "'=' is not supported, compare with '=='",
    "&": "'&' is not JUEL, use '&&' or 'and'",
    "|": "'|' is not JUEL, use '||' or 'or'",
    "{": "'{' cannot start an expression; '${' and '#{' do not nest",
    "instanceof": "'instanceof' is not supported",
}


@dataclass(frozen=True, slots=True)
class Token:
    """``kind`` is num, str, const, name, op, end (the closing ``}``) or eof.

    ``value`` is a literal's value, or an operator's symbol (``&&`` for ``and``).
    """

    kind: str
    text: str
    pos: int
    value: Any = None

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of text"
        if self.kind == "str":
            return f"string {self.text}"
        return f"'{self.text}'"


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _starts_name(ch: str) -> bool:
    return ch.isalpha() or ch in "_$"


def _is_name_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def tokenize(text: str, start: int) -> list[Token]:
    """Tokens from ``start`` up to and including the closing ``}`` (kind ``end``) or eof."""
    tokens: list[Token] = []
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "'\"":
            i = _string(text, i, tokens)
        elif _is_digit(ch) or (ch == "." and i + 1 < n and _is_digit(text[i + 1])):
            i = _number(text, i, tokens)
        elif _starts_name(ch):
            begin = i
            while i < n and _is_name_char(text[i]):
                i += 1
            word = text[begin:i]
            if word in _HINTS:
                raise JuelSyntaxError(_HINTS[word], text, begin)
            if word in _CONSTANTS:
                tokens.append(Token("const", word, begin, _CONSTANTS[word]))
            elif word in _WORD_OPS:
                tokens.append(Token("op", word, begin, _WORD_OPS[word]))
            else:
                tokens.append(Token("name", word, begin, word))
        elif ch == "}":
            tokens.append(Token("end", "}", i, "}"))
            return tokens
        else:
            i = _symbol(text, i, tokens)
    tokens.append(Token("eof", "", n))
    return tokens


def _symbol(text: str, i: int, tokens: list[Token]) -> int:
    for op in _SYMBOLS:
        if text.startswith(op, i):
            tokens.append(Token("op", op, i, op))
            return i + len(op)
    ch = text[i]
    if ch in _HINTS:
        raise JuelSyntaxError(_HINTS[ch], text, i)
    raise JuelSyntaxError(f"unexpected character {ch!r}", text, i)


def _number(text: str, start: int, tokens: list[Token]) -> int:
    i, n = start, len(text)
    while i < n and _is_digit(text[i]):
        i += 1
    is_float = False
    if i < n and text[i] == "." and not (i + 1 < n and _starts_name(text[i + 1])):
        is_float = True
        i += 1
        while i < n and _is_digit(text[i]):
            i += 1
    if i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        if j < n and _is_digit(text[j]):
            is_float = True
            i = j
            while i < n and _is_digit(text[i]):
                i += 1
    if i < n and _is_name_char(text[i]):
        raise JuelSyntaxError(f"invalid number {text[start : i + 1]!r}", text, start)
    raw = text[start:i]
    value: int | float
    try:
        value = float(raw) if is_float else int(raw)
    except ValueError:
        raise JuelSyntaxError("number too long", text, start) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise JuelSyntaxError("number out of range", text, start)
    tokens.append(Token("num", raw, start, value))
    return i


def _string(text: str, start: int, tokens: list[Token]) -> int:
    """JUEL escapes only ``\\\\`` and the quote itself; any other backslash stays as written."""
    quote = text[start]
    out: list[str] = []
    i, n = start + 1, len(text)
    while i < n:
        ch = text[i]
        if ch == quote:
            tokens.append(Token("str", text[start : i + 1], start, "".join(out)))
            return i + 1
        if ch == "\\" and i + 1 < n:
            nxt = text[i + 1]
            out.append(nxt if nxt in ("\\", quote) else ch + nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    raise JuelSyntaxError(f"unterminated string, expected a closing {quote}", text, start)
