"""The compile-time policy: what tenant code may say, and how it is rewritten.

:class:`_Policy` extends RestrictedPython's transformer. It refuses imports, class definitions,
introspection builtins and oversized int literals with the line, routes the operators that can
build large values through the ``_lf_*_`` guards (see ``_guards``), and inserts a call to
``_TICK`` wherever code can repeat, so the runtime can stop a script at its deadline. Kept apart
from compiling and running because it is the one place that decides what scripts can express.
"""

from __future__ import annotations

import ast
from typing import Any, Final

from RestrictedPython.transformer import (
    IOPERATOR_TO_STR,
    RestrictingNodeTransformer,
    copy_locations,
)

from loanflow.engine.sandbox._guards import MAX_INT_BITS

_TICK: Final = "_lf_tick_"
_UNAVAILABLE_NAMES: Final = frozenset(
    {"eval", "exec", "compile", "globals", "locals", "vars", "dir", "open", "setattr", "delattr"}
    | {"breakpoint", "memoryview", "super", "classmethod", "staticmethod", "property"}
)
_BINOP_GUARDS: Final[dict[type[ast.operator], str]] = {
    ast.Add: "_lf_add_",
    ast.Sub: "_lf_sub_",
    ast.Mult: "_lf_mul_",
    ast.Pow: "_lf_pow_",
    ast.LShift: "_lf_lshift_",
    ast.Mod: "_lf_mod_",
}


def _load(name: str) -> ast.Name:
    return ast.Name(name, ast.Load())


class _Policy(RestrictingNodeTransformer):  # type: ignore[misc]
    """RestrictedPython's policy plus refusals, operator guards and deadline ticks."""

    def _tick(self, where: ast.AST) -> ast.Call:
        call = ast.Call(func=_load(_TICK), args=[], keywords=[])
        copy_locations(call, where)
        return call

    def _tick_statement(self, where: ast.AST) -> ast.Expr:
        statement = ast.Expr(ast.Call(func=_load(_TICK), args=[], keywords=[]))
        copy_locations(statement, where)
        return statement

    def visit_Import(self, node: ast.Import) -> ast.AST:
        self.error(node, "imports are not allowed")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        self.error(node, "imports are not allowed")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.error(node, "class definitions are not allowed")
        return node

    def visit_Name(self, node: ast.Name) -> Any:
        if isinstance(node.ctx, ast.Load) and node.id in _UNAVAILABLE_NAMES:
            self.error(node, f'"{node.id}" is not available in scripts')
        return super().visit_Name(node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, int) and node.value.bit_length() > MAX_INT_BITS:
            self.error(node, f"integer literal wider than {MAX_INT_BITS} bits")
        return super().visit_Constant(node)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=_load(guard), args=[node.left, node.right], keywords=[])
        copy_locations(call, node)
        return call

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        if not isinstance(node.target, ast.Subscript):
            return super().visit_AugAssign(node)
        # RestrictedPython refuses `d[k] += v`; it becomes `_lf_augitem_(d, k, "+=", v)`.
        target = node.target
        args = [
            self.visit(target.value),
            self.visit(target.slice),
            ast.Constant(IOPERATOR_TO_STR[type(node.op)]),
            self.visit(node.value),
        ]
        statement = ast.Expr(ast.Call(func=_load("_lf_augitem_"), args=args, keywords=[]))
        copy_locations(statement, node)
        return statement

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        node = self.node_contents_visit(node)
        spec = node.format_spec if node.format_spec is not None else ast.Constant("")
        call = ast.Call(
            func=_load("_lf_format_"),
            args=[node.value, ast.Constant(node.conversion), spec],
            keywords=[],
        )
        copy_locations(call, node.value)
        node.value, node.conversion, node.format_spec = call, -1, None
        return node

    def visit_While(self, node: ast.While) -> Any:
        node = super().visit_While(node)
        node.body.insert(0, self._tick_statement(node))
        return node

    def visit_For(self, node: ast.For) -> Any:
        node = super().visit_For(node)
        node.body.insert(0, self._tick_statement(node))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        node = super().visit_FunctionDef(node)
        node.body.insert(0, self._tick_statement(node))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        node = super().visit_Lambda(node)
        body = ast.BoolOp(op=ast.And(), values=[self._tick(node), node.body])
        copy_locations(body, node.body)
        node.body = body
        return node

    def visit_comprehension(self, node: ast.comprehension) -> Any:
        node = super().visit_comprehension(node)
        node.ifs.insert(0, self._tick(node.iter))
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> Any:
        node = super().visit_ExceptHandler(node)
        node.body.insert(0, self._tick_statement(node))
        return node
