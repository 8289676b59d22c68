"""What FEEL costs per decision-table cell: compile once, then evaluate per row and input.

Figures printed:

compile
    Microseconds to compile one cell from text, cache bypassed (each text is new), for a mix of
    input entries and output expressions.
evaluate
    Nanoseconds per call of a compiled unary test (``tests(value, context)``) or expression
    (``expr(context)``), over inputs that both match and miss, next to a bare Python function
    call with the same arguments as the floor.

Usage: ``python bench/feel_eval.py [--n 200000]``. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
import timeit
from collections.abc import Callable
from functools import partial
from typing import Any

from loanflow.engine.feel import compile_expression, compile_unary_tests

CELLS = [
    "< {i}",
    "[18..{i}]",
    '"A{i}","B","C"',
    'not("X{i}")',
    "amount * 0.{i} + income",
    ">= min_score + {i}",
    "]0..{i}00]",
    'date("2024-01-01") + duration("P{i}D")',
]


def compile_cost(rounds: int) -> float:
    texts = [cell.format(i=i) for i in range(rounds) for cell in CELLS]
    start = time.perf_counter()
    for text in texts:
        if text.startswith(("amount", "date")):
            compile_expression(text)
        else:
            compile_unary_tests(text)
    return (time.perf_counter() - start) / len(texts) * 1e6


def per_call(fn: Callable[[], Any], n: int) -> float:
    best = min(timeit.repeat(fn, number=n, repeat=5))
    return best / n * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    n = parser.parse_args().n
    ctx: dict[str, Any] = {"amount": 120_000, "income": 8_000, "min_score": 600}

    def floor(value: Any, context: Any) -> bool:
        return True

    figures: dict[str, float] = {"compile_us_per_cell": compile_cost(300)}
    cases: list[tuple[str, Callable[[Any, Any], Any], list[Any]]] = [
        ("python call (floor)", floor, [1, 2]),
        ("< 600", compile_unary_tests("< 600"), [599, 700]),
        ("[18..60]", compile_unary_tests("[18..60]"), [35, 70]),
        ('"A","B","C"', compile_unary_tests('"A","B","C"'), ["B", "Z"]),
        ('not("X")', compile_unary_tests('not("X")'), ["X", "Y"]),
        (">= min_score", compile_unary_tests(">= min_score"), [650, 550]),
    ]
    print(f"compile: {figures['compile_us_per_cell']:.1f} us per cell (uncached)")
    for label, fn, values in cases:
        ns = sum(per_call(partial(fn, value, ctx), n) for value in values) / len(values)
        figures[label] = ns
        print(f"evaluate {label:<22} {ns:7.0f} ns per call")
    expr = compile_expression("amount * 0.3 + income")
    ns = per_call(partial(expr, ctx), n)
    figures["amount * 0.3 + income"] = ns
    print(f"evaluate {'amount * 0.3 + income':<22} {ns:7.0f} ns per call")
    print(json.dumps({k: round(v, 1) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
