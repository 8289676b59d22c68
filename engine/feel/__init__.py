"""FEEL (DMN 1.3 "Friendly Enough Expression Language"), compiled once and evaluated fast.

Used for DMN decision-table cells and BPMN conditions. Text is parsed by hand (no ``eval``) and
compiled to nested closures; user objects are only read through ``Mapping`` look-ups, so
tenant-authored cells cannot reach Python attributes.

Supported:

- literals: numbers (``12``, ``-3.5``, ``.5``, ``1e3``), strings with ``\\" \\\\ \\n \\t \\uXXXX``
  escapes, ``true``, ``false``, ``null``; lists ``[1, 2]``; contexts ``{a: 1, "b c": a + 1}``
- names of Unicode letters, digits and ``_`` (``月收入``); a missing variable is null
- ``a.b.c`` on contexts (and over lists, and ``.year .month .day .weekday`` on dates),
  ``list[1]`` (1-based, negative from the end), ``list[item > 5]`` (element keys are names)
- ``+ - * / **`` and unary minus, null-propagating; ``=`` ``!=`` ``<`` ``<=`` ``>`` ``>=``,
  null for incomparable types; ``and``/``or`` three-valued; ``if c then a else b``
- ``x between a and b``, ``x in [1..10]``, ``x in (1, 2)``, ``x in < 5``; ranges with open or
  closed ends: ``[a..b]``, ``(a..b)``, ``]a..b[``, ``[a..b)``
- date, time, date-and-time and duration values with date ± duration and date - date
- unary tests: ``-`` (and an empty cell), ``< e``, ``<= e``, ``> e``, ``>= e``, ``!= e``,
  intervals, values (a list or range result means membership), lists of tests, ``not(...)``,
  and boolean expressions on ``?``
- builtins: see ``BUILTIN_NAMES`` (``not``, ``date``, ``date and time``, ``string length``,
  ``decimal``, ``round half up``, ``min``/``max``/``sum``/``mean``, ``list contains``...)

Type mismatches evaluate to null rather than raising; ``FeelEvalError`` is kept for real
faults (an invalid regular expression from a variable, a failing user mapping). Errors that can
be seen from the text alone, including constant sub-expressions, are ``FeelSyntaxError``.

Not supported: ``for``/``some``/``every``, user-defined functions, ``instance of``, named
arguments, names containing spaces (other than the builtins'), and decimal128 arithmetic:
numbers are Python ``int``/``float``, so ``0.1 + 0.2`` is not exactly ``0.3``.
"""

from loanflow.engine.feel._api import (
    Expression,
    UnaryTests,
    compile_expression,
    compile_unary_tests,
)
from loanflow.engine.feel._builtins import BUILTIN_NAMES
from loanflow.engine.feel._errors import FeelError, FeelEvalError, FeelSyntaxError
from loanflow.engine.feel._temporal import YearsMonthsDuration
from loanflow.engine.feel._values import Range, feel_literal

__all__ = [
    "BUILTIN_NAMES",
    "Expression",
    "FeelError",
    "FeelEvalError",
    "FeelSyntaxError",
    "Range",
    "UnaryTests",
    "YearsMonthsDuration",
    "compile_expression",
    "compile_unary_tests",
    "feel_literal",
]
