"""The parse tree: small immutable nodes the compiler turns into closures.

Chains of one precedence level (``a + b - c``, ``x or y or z``, ``a.b.c``) are one node with a
list, not a left-leaning tree, so a long chain cannot exhaust Python's stack at compile or
evaluation time. ``pos`` is the 0-based offset of the node's first token, for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Arith",
    "Between",
    "Call",
    "Compare",
    "Const",
    "ContextExpr",
    "Filter",
    "If",
    "In",
    "Input",
    "ListExpr",
    "Logic",
    "Name",
    "Neg",
    "Node",
    "Path",
    "RangeExpr",
    "Test",
    "TestCompare",
    "TestExpr",
    "UnaryTestsNode",
]


@dataclass(frozen=True, slots=True)
class Const:
    pos: int
    value: Any


@dataclass(frozen=True, slots=True)
class Name:
    pos: int
    name: str


@dataclass(frozen=True, slots=True)
class Input:
    """``?``: the value under test in unary tests and on the right of ``in``."""

    pos: int


@dataclass(frozen=True, slots=True)
class Path:
    pos: int
    base: Node
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Filter:
    pos: int
    base: Node
    cond: Node


@dataclass(frozen=True, slots=True)
class ListExpr:
    pos: int
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class ContextExpr:
    pos: int
    entries: tuple[tuple[str, Node], ...]


@dataclass(frozen=True, slots=True)
class RangeExpr:
    pos: int
    lo: Node
    hi: Node
    lo_closed: bool
    hi_closed: bool


@dataclass(frozen=True, slots=True)
class Neg:
    pos: int
    operand: Node


@dataclass(frozen=True, slots=True)
class Arith:
    """``first (op operand)*`` for one precedence level of ``+ -``, ``* /`` or ``**``."""

    pos: int
    first: Node
    rest: tuple[tuple[str, Node], ...]


@dataclass(frozen=True, slots=True)
class Compare:
    pos: int
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Logic:
    pos: int
    op: str
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Between:
    pos: int
    value: Node
    lo: Node
    hi: Node


@dataclass(frozen=True, slots=True)
class If:
    pos: int
    cond: Node
    then: Node
    else_: Node


@dataclass(frozen=True, slots=True)
class Call:
    pos: int
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class TestCompare:
    """``< e``, ``<= e``, ``> e``, ``>= e``, ``!= e`` against the implicit input."""

    pos: int
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class TestExpr:
    """A plain expression as a test: a condition when it reads ``?``, else a value to match."""

    pos: int
    expr: Node
    uses_input: bool


Test = TestCompare | TestExpr


@dataclass(frozen=True, slots=True)
class In:
    pos: int
    value: Node
    tests: tuple[Test, ...]


@dataclass(frozen=True, slots=True)
class UnaryTestsNode:
    """A whole input-entry cell: ``-`` is ``is_any``; ``negated`` is ``not(...)``."""

    tests: tuple[Test, ...]
    negated: bool
    is_any: bool


Node = (
    Const
    | Name
    | Input
    | Path
    | Filter
    | ListExpr
    | ContextExpr
    | RangeExpr
    | Neg
    | Arith
    | Compare
    | Logic
    | Between
    | If
    | Call
    | In
)
