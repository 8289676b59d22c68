"""The parse tree: small immutable nodes the compiler turns into closures.

Chains of one precedence level (``a + b - c``, ``x && y && z``, ``a.b[0].c``) are one node
holding a tuple, not a left-leaning tree, so a long chain cannot exhaust Python's stack at
compile or evaluation time. ``pos`` is the 0-based offset of the node's first token in the
whole text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Arith",
    "Compare",
    "Cond",
    "Const",
    "GetVariable",
    "Logic",
    "Name",
    "Node",
    "Path",
    "Step",
    "Unary",
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
class GetVariable:
    """``execution.getVariable('name')``: a variable read that yields null when unset."""

    pos: int
    name: str


@dataclass(frozen=True, slots=True)
class Step:
    """One ``.key`` (``key`` set) or ``[index]`` (``index`` set) after a base.

    ``pos`` is the key's offset for ``.key`` and the ``[``'s for an index, which is where an
    error reading that step points.
    """

    pos: int
    key: str | None
    index: Node | None


@dataclass(frozen=True, slots=True)
class Path:
    pos: int
    base: Node
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Unary:
    """``op`` is ``-``, ``!`` or ``empty``."""

    pos: int
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Arith:
    """``first (op operand)*`` for one level: ``+ -`` or ``* / %``."""

    pos: int
    first: Node
    rest: tuple[tuple[str, int, Node], ...]


@dataclass(frozen=True, slots=True)
class Compare:
    pos: int
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Logic:
    """``&&`` or ``||`` over two or more items, short-circuiting left to right."""

    pos: int
    op: str
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Cond:
    pos: int
    cond: Node
    then: Node
    else_: Node


Node = Const | Name | GetVariable | Path | Unary | Arith | Compare | Logic | Cond
