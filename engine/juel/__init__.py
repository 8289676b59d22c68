"""JUEL (the Java Unified Expression Language of Camunda 7 diagrams), compiled to closures.

Camunda 7 puts JUEL in sequence-flow conditions, input/output parameters, candidate groups,
due dates and timers: ``${amount > 50000}``, ``${approved && !blacklisted}``, ``Loan ${id}``.
Text is parsed by hand (no ``eval``) and compiled to nested closures; user objects are only
read through ``Mapping`` look-ups and list indexing, so tenant-authored diagrams cannot reach
Python attributes.

Supported (JUEL 2.2 as Camunda uses it):

- text: ``${...}`` and ``#{...}`` (not mixed in one text), composite text ``Loan ${id}``
  (each part shown as text, null as ``""``, booleans as ``true``/``false``), ``\\${`` for a
  literal ``${``
- literals: ``12``, ``1.5``, ``.5``, ``1e3``, ``'single'`` and ``"double"`` quoted strings
  (``\\\\`` and ``\\'``/``\\"`` escapes), ``true``, ``false``, ``null``
- ``a.b`` and ``a['b']`` on Mappings (a missing key is null), ``items[0]`` on lists and tuples
  (out of range is null), null in null out; ``execution.getVariable('x')`` reads ``x``
  (null when unset)
- ``-``, ``!``/``not``, ``empty``; ``* / div % mod``; ``+ -``; ``< > <= >= lt gt le ge``;
  ``== != eq ne``; ``&& and``; ``|| or``; ``a ? b : c``; parentheses

Semantics follow JUEL's coercions, simplified: arithmetic is numeric only (numeric strings,
null and ``""`` coerce; ``+`` never concatenates), ``/`` always divides exactly, ``%`` takes
the sign of the dividend as in Java; ``==`` compares numbers numerically (a numeric string
coerces), strings as strings, booleans with ``'true'``/``'false'`` strings; ordering of null
is false; ``&&``/``||``/``!``/``?:`` short-circuit and treat null, ``""`` and strings other
than ``'true'`` as false; ``bool`` is never a number. An unknown root variable is a
``JuelEvalError`` (Camunda: "Unknown property used in expression"), except under ``empty``.

Not supported: method and function calls other than ``execution.getVariable``, ``instanceof``,
EL 3.0 additions (lambdas, collection literals, ``+=``, ``;``), Java ``long`` overflow
(integers are Python ``int``) and Java's number formatting in composite text (``1e10`` is
shown as ``10000000000.0``, not ``1.0E10``).
"""

from loanflow.engine.juel._api import Expression, compile_expression, is_juel
from loanflow.engine.juel._errors import JuelError, JuelEvalError, JuelSyntaxError

__all__ = [
    "Expression",
    "JuelError",
    "JuelEvalError",
    "JuelSyntaxError",
    "compile_expression",
    "is_juel",
]
