"""Splits attribute text into literal parts and ``${...}`` sections, and parses each section.

Binding powers, loosest first: ``?:``, ``||``, ``&&``, ``== !=``, ``< > <= >=``, ``+ -``,
``* / %``, the prefix operators ``- ! empty``, then ``.key`` and ``[index]``. This is JUEL
2.2's grammar, except that comparisons of one level do not chain: ``1 < x < 10`` would compare
a boolean with 10 at run time, so it is a syntax error here.

Literal text follows JUEL's scanner: a backslash right before ``${`` or ``#{`` makes it literal
text; every other backslash is kept as written.
"""

from __future__ import annotations

from typing import Final

from loanflow.engine.juel import _ast as A
from loanflow.engine.juel._errors import JuelSyntaxError
from loanflow.engine.juel._lexer import Token, tokenize

__all__ = ["MAX_DEPTH", "Part", "parse_text"]

MAX_DEPTH: Final = 100

Part = str | A.Node
_BP: Final = {
    "||": 10,
    "&&": 20,
    "==": 30,
    "!=": 30,
    "<": 40,
    ">": 40,
    "<=": 40,
    ">=": 40,
    "+": 50,
    "-": 50,
    "*": 60,
    "/": 60,
    "%": 60,
}
_BP_EQ, _BP_REL = 30, 40
_CHAINED: Final = {
    _BP_EQ: "equality tests cannot be chained, add parentheses",
    _BP_REL: "comparisons cannot be chained, use 'a < b && b < c'",
}
_PREFIX: Final = frozenset({"-", "!", "empty"})


def parse_text(text: str) -> list[Part]:
    """Literal strings and parsed sections, in order; empty literals are left out."""
    parts: list[Part] = []
    literal: list[str] = []
    opener = ""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and text.startswith(("${", "#{"), i + 1):
            literal.append(text[i + 1 : i + 3])
            i += 3
        elif ch in "$#" and text.startswith("{", i + 1):
            if opener and ch != opener[0]:
                raise JuelSyntaxError("cannot mix '${' and '#{' in one text", text, i)
            opener = ch + "{"
            if literal:
                parts.append("".join(literal))
                literal = []
            node, i = _Parser(text, i + 2, opener).section()
            parts.append(node)
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts


class _Parser:
    def __init__(self, text: str, start: int, opener: str) -> None:
        self.text = text
        self.opener = opener
        self.tokens = tokenize(text, start)
        self.i = 0
        self.depth = 0

    # -- token helpers --------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind not in ("eof", "end"):
            self.i += 1
        return tok

    def at(self, symbol: str) -> bool:
        tok = self.tokens[self.i]
        return tok.kind == "op" and tok.value == symbol

    def error(self, message: str, pos: int | None = None) -> JuelSyntaxError:
        return JuelSyntaxError(message, self.text, self.tok.pos if pos is None else pos)

    def expect(self, symbol: str, what: str) -> Token:
        if not self.at(symbol):
            raise self.error(f"expected '{symbol}' {what}, got {self.tok.describe()}")
        return self.advance()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression nested more than {MAX_DEPTH} levels deep")

    # -- grammar --------------------------------------------------------------------------
    def section(self) -> tuple[A.Node, int]:
        """One ``${...}`` body; returns the node and the offset just after its ``}``."""
        node = self.expr()
        tok = self.tok
        if tok.kind == "end":
            return node, tok.pos + 1
        if tok.kind == "eof":
            raise self.error(f"expected '}}' to close '{self.opener}', got end of text")
        raise self.error(f"expected an operator or '}}', got {tok.describe()}")

    def expr(self) -> A.Node:
        self.enter()
        node = self.binary(0)
        if self.at("?"):
            self.advance()
            then = self.expr()
            self.expect(":", "after 'a ? b' in 'a ? b : c'")
            node = A.Cond(node.pos, node, then, self.expr())
        self.depth -= 1
        return node

    def binary(self, min_bp: int) -> A.Node:
        left = self.unary()
        while True:
            tok = self.tok
            bp = _BP.get(tok.value, 0) if tok.kind == "op" else 0
            if bp <= min_bp:
                return left
            op = tok.value
            if op in ("||", "&&"):
                items = [left]
                while self.at(op):
                    self.advance()
                    items.append(self.binary(bp))
                left = A.Logic(left.pos, op, tuple(items))
            elif bp in _CHAINED:
                self.advance()
                left = A.Compare(tok.pos, op, left, self.binary(bp))
                nxt = self.tok
                if nxt.kind == "op" and _BP.get(nxt.value) == bp:
                    raise self.error(_CHAINED[bp])
            else:
                rest: list[tuple[str, int, A.Node]] = []
                while self.tok.kind == "op" and _BP.get(self.tok.value) == bp:
                    op_tok = self.advance()
                    rest.append((op_tok.value, op_tok.pos, self.binary(bp)))
                left = A.Arith(left.pos, left, tuple(rest))

    def unary(self) -> A.Node:
        tok = self.tok
        if tok.kind == "op" and tok.value in _PREFIX:
            self.advance()
            self.enter()
            operand = self.unary()
            self.depth -= 1
            return A.Unary(tok.pos, tok.value, operand)
        return self.postfix(self.primary())

    def primary(self) -> A.Node:
        tok = self.tok
        if tok.kind in ("num", "str", "const"):
            self.advance()
            return A.Const(tok.pos, tok.value)
        if tok.kind == "name":
            self.advance()
            if self.at("(") or (
                self.at(":") and self.peek().kind == "name" and self.peek(2).text == "("
            ):
                raise self.error("function calls are not supported", tok.pos)
            return A.Name(tok.pos, tok.text)
        if self.at("("):
            self.advance()
            node = self.expr()
            self.expect(")", "to close '('")
            return node
        raise self.error(f"expected an expression, got {tok.describe()}")

    def postfix(self, node: A.Node) -> A.Node:
        steps: list[A.Step] = []
        while True:
            if self.at("."):
                self.advance()
                key = self.tok
                if key.kind not in ("name", "const") and not key.text.isalpha():
                    raise self.error(f"expected a property name after '.', got {key.describe()}")
                self.advance()
                steps.append(A.Step(key.pos, key.text, None))
            elif self.at("["):
                open_tok = self.advance()
                index = self.expr()
                self.expect("]", "to close '['")
                steps.append(A.Step(open_tok.pos, None, index))
            elif self.at("("):
                node = self.get_variable(node, steps)
                steps = []
            else:
                return A.Path(node.pos, node, tuple(steps)) if steps else node

    def get_variable(self, node: A.Node, steps: list[A.Step]) -> A.Node:
        """``execution.getVariable('x')``, the one method call Camunda diagrams rely on."""
        paren = self.tok
        if not (
            isinstance(node, A.Name)
            and node.name == "execution"
            and len(steps) == 1
            and steps[0].key == "getVariable"
        ):
            pos = steps[-1].pos if steps and steps[-1].key is not None else paren.pos
            raise self.error("method calls are not supported", pos)
        self.advance()
        arg = self.tok
        if arg.kind != "str" or not (self.peek().kind == "op" and self.peek().text == ")"):
            raise self.error("execution.getVariable() takes one quoted variable name", arg.pos)
        self.advance()
        self.advance()
        return A.GetVariable(node.pos, str(arg.value))
