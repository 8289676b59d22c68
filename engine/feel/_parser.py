"""Recursive-descent (Pratt) parser from tokens to the tree in ``_ast``.

Binding powers, loosest first: ``if``, ``or``, ``and``, comparisons/``between``/``in``,
``+ -``, ``* /``, ``**``, unary minus (looser than ``**``, as in mathematics), then the postfix
forms ``.key``, ``[filter]`` and calls. Comparisons do not chain: ``18 <= age <= 60`` is a
Python habit that FEEL would silently evaluate to null, so it is a syntax error here.
"""

from __future__ import annotations

from typing import Final

from loanflow.engine.feel import _ast as A
from loanflow.engine.feel._builtins import BUILTIN_NAMES
from loanflow.engine.feel._errors import FeelSyntaxError
from loanflow.engine.feel._lexer import Token, tokenize

__all__ = ["MAX_DEPTH", "parse_expression", "parse_unary_tests"]

MAX_DEPTH: Final = 100

_COMPARE_OPS: Final = frozenset({"=", "!=", "<", "<=", ">", ">="})
_TEST_OPS: Final = frozenset({"<", "<=", ">", ">=", "!="})
_BP_OR, _BP_AND, _BP_CMP, _BP_ADD, _BP_MUL, _BP_POW = 10, 20, 30, 40, 50, 60
_BP_NEG = 55
_ARITH_BP: Final = {"+": _BP_ADD, "-": _BP_ADD, "*": _BP_MUL, "/": _BP_MUL, "**": _BP_POW}
_START_KW: Final = frozenset({"true", "false", "null", "not", "if"})
_START_OP: Final = frozenset({"-", "(", "[", "{", "?"})
# Longest first, so "date and time" wins over "date" when both could be meant.
_MULTI_WORD: Final = sorted(
    (tuple(name.split(" ")) for name in BUILTIN_NAMES if " " in name), key=len, reverse=True
)


def parse_expression(text: str) -> A.Node:
    parser = _Parser(text, input_allowed=False)
    node = parser.expr(0)
    parser.expect_end()
    return node


def parse_unary_tests(text: str) -> A.UnaryTestsNode:
    parser = _Parser(text, input_allowed=True)
    return parser.unary_tests()


class _Parser:
    def __init__(self, text: str, *, input_allowed: bool) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.input_allowed = input_allowed
        self.saw_input = False

    # -- token helpers --------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def at(self, text: str, kind: str = "op") -> bool:
        tok = self.tokens[self.i]
        return tok.kind == kind and tok.text == text

    def error(self, message: str, tok: Token | None = None) -> FeelSyntaxError:
        return FeelSyntaxError(message, self.text, (tok or self.tok).pos)

    def unexpected(self) -> FeelSyntaxError:
        return self.error(f"unexpected {self.tok.describe()}")

    def expect(self, text: str, what: str, kind: str = "op") -> Token:
        if not self.at(text, kind):
            raise self.error(f"expected '{text}' {what}, got {self.tok.describe()}")
        return self.advance()

    def expect_end(self) -> None:
        if self.tok.kind != "eof":
            raise self.unexpected()

    def enter(self, extra: int = 1) -> None:
        self.depth += extra
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression nested more than {MAX_DEPTH} levels deep")

    def starts_expression(self, tok: Token) -> bool:
        if tok.kind in ("num", "str", "name"):
            return True
        if tok.kind == "kw":
            return tok.text in _START_KW
        return tok.kind == "op" and tok.text in _START_OP

    # -- unary tests ----------------------------------------------------------------------
    def unary_tests(self) -> A.UnaryTestsNode:
        if self.tok.kind == "eof" or (self.at("-") and self.peek().kind == "eof"):
            return A.UnaryTestsNode((), negated=False, is_any=True)
        if self.at("not", "kw") and self.peek().kind == "op" and self.peek().text == "(":
            self.advance()
            self.advance()
            tests = self.test_list(0, closer=")")
            self.expect(")", "to close 'not('")
            if self.tok.kind != "eof":
                raise self.error(
                    f"expected end of unary tests after 'not(...)', got {self.tok.describe()}"
                )
            return A.UnaryTestsNode(tests, negated=True, is_any=False)
        tests = self.test_list(0, closer=None)
        self.expect_end()
        return A.UnaryTestsNode(tests, negated=False, is_any=False)

    def test_list(self, bp: int, closer: str | None) -> tuple[A.Test, ...]:
        tests = [self.positive_test(bp)]
        while self.at(","):
            self.advance()
            tests.append(self.positive_test(bp))
        if closer is None and self.tok.kind != "eof":
            raise self.error(f"expected ',' or end of unary tests, got {self.tok.describe()}")
        return tuple(tests)

    def positive_test(self, bp: int) -> A.Test:
        tok = self.tok
        if tok.kind == "op" and tok.text in _TEST_OPS:
            self.advance()
            if not self.starts_expression(self.tok):
                raise self.error(f"expected a value after '{tok.text}', got {self.tok.describe()}")
            return A.TestCompare(tok.pos, tok.text, self.expr(bp))
        saw, self.saw_input = self.saw_input, False
        node = self.expr(bp)
        uses_input, self.saw_input = self.saw_input, saw or self.saw_input
        return A.TestExpr(tok.pos, node, uses_input)

    def in_tests(self) -> tuple[A.Test, ...]:
        """Right of ``in``: one positive unary test or a parenthesized list of them."""
        allowed, saw = self.input_allowed, self.saw_input
        self.input_allowed = True
        try:
            if not self.at("("):
                return (self.positive_test(_BP_CMP),)
            open_tok = self.advance()
            first = self.positive_test(0)
            if isinstance(first, A.TestExpr) and self.at(".."):
                self.advance()
                hi = self.expr(0)
                rng = A.RangeExpr(open_tok.pos, first.expr, hi, False, self.close_range())
                tests: tuple[A.Test, ...] = (A.TestExpr(open_tok.pos, rng, first.uses_input),)
            else:
                rest = [first]
                while self.at(","):
                    self.advance()
                    rest.append(self.positive_test(0))
                self.expect(")", "to close the list of tests after 'in'")
                tests = tuple(rest)
            return tests
        finally:
            self.input_allowed, self.saw_input = allowed, saw

    # -- expressions ----------------------------------------------------------------------
    def expr(self, min_bp: int) -> A.Node:
        self.enter()
        left = self.prefix()
        while True:
            tok = self.tok
            if tok.kind == "kw" and tok.text in ("or", "and"):
                bp = _BP_OR if tok.text == "or" else _BP_AND
                if bp <= min_bp:
                    break
                items = [left]
                while self.at(tok.text, "kw"):
                    self.advance()
                    items.append(self.expr(bp))
                left = A.Logic(tok.pos, tok.text, tuple(items))
            elif self.is_comparison(tok):
                if min_bp >= _BP_CMP:
                    break
                left = self.comparison(left)
                if self.is_comparison(self.tok):
                    raise self.error(
                        "comparisons cannot be chained, use 'x between a and b' or 'and'"
                    )
            elif tok.kind == "op" and tok.text in _ARITH_BP:
                bp = _ARITH_BP[tok.text]
                if bp <= min_bp:
                    break
                level = {o for o, b in _ARITH_BP.items() if b == bp}
                rest: list[tuple[str, A.Node]] = []
                while self.tok.kind == "op" and self.tok.text in level:
                    op = self.advance().text
                    rest.append((op, self.expr(bp)))
                left = A.Arith(left.pos, left, tuple(rest))
            else:
                break
        self.depth -= 1
        return left

    def is_comparison(self, tok: Token) -> bool:
        if tok.kind == "op":
            return tok.text in _COMPARE_OPS
        return tok.kind == "kw" and tok.text in ("between", "in")

    def comparison(self, left: A.Node) -> A.Node:
        tok = self.advance()
        if tok.text == "between":
            lo = self.expr(_BP_CMP)
            self.expect("and", "in 'between ... and ...'", kind="kw")
            return A.Between(tok.pos, left, lo, self.expr(_BP_CMP))
        if tok.text == "in":
            return A.In(tok.pos, left, self.in_tests())
        if not self.starts_expression(self.tok):
            raise self.unexpected()
        return A.Compare(tok.pos, tok.text, left, self.expr(_BP_CMP))

    def prefix(self) -> A.Node:
        tok = self.tok
        if tok.kind in ("num", "str"):
            self.advance()
            return self.postfix(A.Const(tok.pos, tok.value))
        if tok.kind == "name":
            return self.postfix(self.name_or_call())
        if tok.kind == "kw":
            return self.keyword(tok)
        if tok.kind == "op":
            if tok.text == "-":
                self.advance()
                if not self.starts_expression(self.tok):
                    raise self.unexpected()
                return A.Neg(tok.pos, self.expr(_BP_NEG))
            if tok.text == "?":
                if not self.input_allowed:
                    raise self.error("'?' is only allowed in unary tests and after 'in'")
                self.advance()
                self.saw_input = True
                return self.postfix(A.Input(tok.pos))
            if tok.text in ("(", "[", "]"):
                return self.postfix(self.bracketed())
            if tok.text == "{":
                return self.postfix(self.context())
            if tok.text in _TEST_OPS:
                raise self.error(
                    f"'{tok.text}' needs a left operand (a unary test like "
                    f"'{tok.text} 5' only works in input entries or after 'in')"
                )
        raise self.unexpected()

    def keyword(self, tok: Token) -> A.Node:
        consts = {"true": True, "false": False, "null": None}
        if tok.text in consts:
            self.advance()
            return self.postfix(A.Const(tok.pos, consts[tok.text]))
        if tok.text == "not" and self.peek().kind == "op" and self.peek().text == "(":
            self.advance()
            return self.postfix(A.Call(tok.pos, "not", self.arguments("not")))
        if tok.text == "if":
            self.advance()
            cond = self.expr(0)
            self.expect("then", "after the condition of 'if'", kind="kw")
            then = self.expr(0)
            self.expect("else", "after 'if ... then ...'", kind="kw")
            return A.If(tok.pos, cond, then, self.expr(0))
        raise self.unexpected()

    def name_or_call(self) -> A.Node:
        tok = self.tok
        for words in _MULTI_WORD:
            if words[0] != tok.text:
                continue
            n = len(words)
            ahead = [self.peek(k) for k in range(n + 1)]
            if all(
                t.kind in ("name", "kw") and t.text == w for t, w in zip(ahead, words, strict=False)
            ) and (ahead[n].kind == "op" and ahead[n].text == "("):
                self.i += n
                name = " ".join(words)
                return A.Call(tok.pos, name, self.arguments(name))
        self.advance()
        if self.at("("):
            if tok.text not in BUILTIN_NAMES:
                raise self.error(f"unknown function '{tok.text}'", tok)
            return A.Call(tok.pos, tok.text, self.arguments(tok.text))
        return A.Name(tok.pos, tok.text)

    def arguments(self, name: str) -> tuple[A.Node, ...]:
        self.expect("(", f"after '{name}'")
        args: list[A.Node] = []
        if not self.at(")"):
            while True:
                if self.tok.kind == "name" and self.peek().kind == "op" and self.peek().text == ":":
                    raise self.error("named arguments are not supported")
                args.append(self.expr(0))
                if not self.at(","):
                    break
                self.advance()
        self.expect(")", f"to close the arguments of '{name}'")
        return tuple(args)

    def postfix(self, node: A.Node) -> A.Node:
        chained = 0
        while True:
            if self.at("."):
                dot = self.advance()
                if self.tok.kind != "name":
                    raise self.error(f"expected a name after '.', got {self.tok.describe()}")
                keys = [self.advance().text]
                while self.at(".") and self.peek().kind == "name":
                    self.advance()
                    keys.append(self.advance().text)
                if isinstance(node, A.Path):
                    node = A.Path(node.pos, node.base, node.keys + tuple(keys))
                else:
                    node = A.Path(dot.pos, node, tuple(keys))
            elif self.at("[") and self.starts_expression(self.peek()):
                # A '[' not followed by an expression closes a range: ']0..50000['.
                self.advance()
                chained += 1
                self.enter(chained)
                cond = self.expr(0)
                self.depth -= chained
                self.expect("]", "to close the filter")
                node = A.Filter(node.pos, node, cond)
            elif self.at("("):
                raise self.error("only built-in functions can be called")
            else:
                return node

    def bracketed(self) -> A.Node:
        """``(e)``, ``[a, b]``, and ranges ``[a..b]``, ``(a..b)``, ``]a..b[`` and mixes."""
        open_tok = self.advance()
        if open_tok.text == "[" and self.at("]"):
            self.advance()
            return A.ListExpr(open_tok.pos, ())
        first = self.expr(0)
        node: A.Node
        if self.at(".."):
            self.advance()
            if not self.starts_expression(self.tok):
                raise self.error(f"expected the end of the range, got {self.tok.describe()}")
            hi = self.expr(0)
            node = A.RangeExpr(open_tok.pos, first, hi, open_tok.text == "[", self.close_range())
        elif open_tok.text == "]":
            raise self.error(f"expected '..' in the range, got {self.tok.describe()}")
        elif open_tok.text == "(":
            self.expect(")", "to close '('")
            node = first
        else:
            items = [first]
            while self.at(","):
                self.advance()
                items.append(self.expr(0))
            self.expect("]", "to close the list")
            node = A.ListExpr(open_tok.pos, tuple(items))
        return node

    def close_range(self) -> bool:
        tok = self.tok
        if tok.kind == "op" and tok.text in ("]", ")", "["):
            self.advance()
            return tok.text == "]"
        raise self.error(f"expected ']' or ')' to close the range, got {tok.describe()}")

    def context(self) -> A.Node:
        open_tok = self.advance()
        entries: list[tuple[str, A.Node]] = []
        seen: set[str] = set()
        while not self.at("}"):
            key_tok = self.tok
            if key_tok.kind == "name":
                key = key_tok.text
            elif key_tok.kind == "str":
                key = str(key_tok.value)
            else:
                raise self.error(f"expected a context key, got {key_tok.describe()}")
            if key in seen:
                raise self.error(f"duplicate context key '{key}'")
            seen.add(key)
            self.advance()
            self.expect(":", f"after the context key '{key}'")
            entries.append((key, self.expr(0)))
            if not self.at(","):
                break
            self.advance()
        self.expect("}", "to close the context")
        return A.ContextExpr(open_tok.pos, tuple(entries))
