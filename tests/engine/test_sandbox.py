"""The sandbox refuses escapes, bounds time and size, runs ordinary tenant code, and plugs into
SpiffWorkflow."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.util.task import TaskState

from loanflow.engine.errors import ProcessError, ScriptError
from loanflow.engine.sandbox import Sandbox, SandboxEnvironment
from loanflow.engine.sandbox import _compile as sandbox_module

LIMIT = 0.2


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(time_limit=LIMIT)


def data() -> dict[str, Any]:
    return {
        "amount": 60_000,
        "grade": "A",
        "blocked": False,
        "items": [1, 2, 3],
        "pairs": [["a", 1], ["b", 2]],
        "applicant": {"name": "Li", "age": 30},
    }


# -- refused before running -------------------------------------------------------------------

COMPILE_TIME_ESCAPES = [
    "import os",
    "import os as o",
    "from os import path",
    "__import__('os')",
    "().__class__.__bases__[0].__subclasses__()",
    "items.__class__",
    "f = (lambda: 0).__globals__",
    "eval('1')",
    "exec('x = 1')",
    "compile('1', 'f', 'eval')",
    "globals()",
    "locals()",
    "vars()",
    "dir()",
    "open('/etc/passwd')",
    "setattr(applicant, 'name', 1)",
    "delattr(applicant, 'name')",
    "breakpoint()",
    "super()",
    "f = (x for x in items).gi_frame",
    "class A:\n    pass",
    "_hidden = 1",
    "def f(_x):\n    return _x",
    "async def f():\n    pass",
    "x = 0x" + "f" * 3000,
    "x = (",
    "applicant.name += 1",
]


@pytest.mark.parametrize("escape", COMPILE_TIME_ESCAPES)
def test_escapes_are_refused_at_compile_time_with_the_line(sandbox: Sandbox, escape: str) -> None:
    source = "ok = 1\n" + escape
    with pytest.raises(ScriptError) as caught:
        sandbox.check_script(source)
    assert caught.value.line == 2
    assert str(caught.value).startswith("line 2: ")
    with pytest.raises(ScriptError):
        sandbox.execute(source, data())


@pytest.mark.parametrize(
    "expression",
    ["__import__('os')", "().__class__", "open('x')", "eval('1')", "1 +", "vars()", "x = 1"],
)
def test_refused_expressions(sandbox: Sandbox, expression: str) -> None:
    with pytest.raises(ScriptError) as caught:
        sandbox.check_expression(expression)
    assert caught.value.line == 1


def test_script_error_is_a_process_error(sandbox: Sandbox) -> None:
    with pytest.raises(ProcessError):
        sandbox.check_script("import os")


# -- refused while running --------------------------------------------------------------------

RUNTIME_ESCAPES = [
    ("getattr(applicant, '__class__')", "__class__"),
    ("getattr(lambda: 0, '__globals__')", "__globals__"),
    ("getattr(items, 'mro', None)", "mro"),
    ("'{0.__class__}'.format(items)", "__class__"),
    ("'{0.__class__.__base__.__subclasses__}'.format(1)", "__class__"),
    ("'{x.__class__}'.format_map({'x': 1})", "__class__"),
    ("'{0[0].__class__}'.format(items)", "__class__"),
    ("str.format('{0.__class__}', 1)", "format"),
    ("type('X', (), {})", "name 'type' is not defined"),
    ("type(1)", "name 'type' is not defined"),
    ("int.from_bytes(b'\\xff', 'big')", "from_bytes"),
    ("math.floor.__globals__", "__globals__"),
    ("sum([[1], [2]], [])", "sum()"),
]


@pytest.mark.parametrize(("expression", "needle"), RUNTIME_ESCAPES)
def test_escapes_are_refused_at_runtime(sandbox: Sandbox, expression: str, needle: str) -> None:
    with pytest.raises(ScriptError) as caught:
        sandbox.evaluate(expression, data())
    assert needle in str(caught.value)


SIZE_BOMBS = [
    "2 ** 10 ** 10",
    "pow(2, 10 ** 10)",
    "10 ** 100000",
    "1 << 10 ** 10",
    "(2 ** 9000) * (2 ** 9000)",
    "'a' * 10 ** 10",
    "10 ** 10 * 'a'",
    "[0] * 10 ** 10",
    "(0,) * 10 ** 10",
    "b'x' * 10 ** 10",
    "list(range(10 ** 12))",
    "range(10 ** 7)",
    "range(0, 10 ** 30, 2)",
    "'x'.ljust(10 ** 10)",
    "'x'.center(10 ** 10)",
    "'1'.zfill(10 ** 10)",
    "'\\t'.expandtabs(10 ** 10)",
    "','.join(['x' * 1000] * 10000)",
    "('a' * 1000).replace('', 'b' * 1000)",
    "'%1000000000d' % 1",
    "'%*d' % (10 ** 9, 1)",
    "('%s' * 1000) % tuple(['x' * 10000] * 1000)",
    "f'{1:>10000000000}'",
    "f'{1.5:.{10 ** 9}f}'",
    "'{:>10000000000}'.format(1)",
    "('{0}' * 1000).format('x' * 10000)",
    "int('f' * 100000, 16)",
    "int(Decimal('1e99999999'))",
    "round(Decimal('1e99999999'))",
    "math.floor(Decimal('1e99999999'))",
    "f'{Decimal(\"1e-99999999\"):f}'",
    "'%d' % Decimal('1e99999999')",
]


@pytest.mark.parametrize("expression", SIZE_BOMBS)
def test_oversized_results_are_refused_before_they_are_built(
    sandbox: Sandbox, expression: str
) -> None:
    started = time.monotonic()
    with pytest.raises(ScriptError) as caught:
        sandbox.evaluate(expression, {})
    assert time.monotonic() - started < 0.5
    assert caught.value.line == 1


@pytest.mark.parametrize(
    "script",
    [
        "s = 'ab'\nwhile True:\n    s += s",
        "s = 'ab'\nwhile True:\n    s = s + s",
        "l = [1]\nwhile True:\n    l.extend(l)",
        "l = [1]\nwhile True:\n    l += l",
        "x = 'a'\nx *= 10 ** 10",
        "d = {'k': 'a'}\nd['k'] *= 10 ** 10",
        "n = 2\nwhile True:\n    n = n * n",
        "n = 2\nwhile True:\n    n **= 2",
        "n = 1\nwhile True:\n    n = n + n",
        "n = 1\nwhile True:\n    n = n - (-n)",
    ],
)
def test_growth_in_loops_is_refused_by_size(sandbox: Sandbox, script: str) -> None:
    with pytest.raises(ScriptError) as caught:
        sandbox.execute(script, {})
    assert "time limit" not in str(caught.value)
    assert "allowed" in str(caught.value)


def test_max_sequence_length_is_configurable() -> None:
    small = Sandbox(time_limit=LIMIT, max_sequence_length=10)
    assert small.evaluate("'a' * 10", {}) == "a" * 10
    with pytest.raises(ScriptError):
        small.evaluate("'a' * 11", {})
    with pytest.raises(ScriptError):
        small.evaluate("list(range(11))", {})


# -- time ------------------------------------------------------------------------------------

ENDLESS = [
    "while True:\n    pass",
    "x = 0\nwhile x >= 0:\n    x = x + 1",
    "for i in range(10 ** 6):\n    for j in range(10 ** 6):\n        pass",
    "x = [1 for i in range(10 ** 6) for j in range(10 ** 6)]",
    "x = sum(1 for i in range(10 ** 6) for j in range(10 ** 6))",
    "def f(n):\n    return 0 if n == 0 else f(n - 1) + f(n - 1)\nf(60)",
    "f = lambda n: 0 if n == 0 else f(n - 1) + f(n - 1)\nf(60)",
    "try:\n    while True:\n        pass\nexcept Exception:\n    pass\nx = 1",
    "try:\n    while True:\n        pass\nexcept:\n    pass\nwhile True:\n    pass",
    "def f():\n    try:\n        while True:\n            pass\n"
    "    finally:\n        return 1\nx = f()",
    "while True:\n    try:\n        while True:\n            pass\n    finally:\n        continue",
    "def g():\n    while True:\n        yield 1\nx = max(g())",
]


@pytest.mark.parametrize("script", ENDLESS)
def test_endless_scripts_stop_at_the_time_limit(sandbox: Sandbox, script: str) -> None:
    started = time.monotonic()
    with pytest.raises(ScriptError, match="time limit") as caught:
        sandbox.execute(script, {})
    assert time.monotonic() - started < LIMIT + 0.5
    assert caught.value.line is None or caught.value.line >= 1


def test_endless_expression_stops_at_the_time_limit(sandbox: Sandbox) -> None:
    with pytest.raises(ScriptError, match="time limit"):
        sandbox.evaluate("[1 for i in range(10 ** 6) for j in range(10 ** 6)]", {})


def test_time_limit_works_in_worker_threads(sandbox: Sandbox) -> None:
    outcomes: dict[str, Any] = {}

    def run(name: str, script: str) -> None:
        context: dict[str, Any] = {}
        try:
            sandbox.execute(script, context)
            outcomes[name] = context
        except ScriptError as exc:
            outcomes[name] = exc

    scripts = {
        "endless": "while True:\n    pass",
        "endless2": "x = [1 for i in range(10 ** 6) for j in range(10 ** 6)]",
        "short": "x = sum(i for i in range(1000))",
    }
    threads = [threading.Thread(target=run, args=item) for item in scripts.items()]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert time.monotonic() - started < LIMIT + 1.5
    assert isinstance(outcomes["endless"], ScriptError)
    assert "time limit" in str(outcomes["endless"])
    assert isinstance(outcomes["endless2"], ScriptError)
    assert outcomes["short"] == {"x": 499_500}


def test_each_call_has_its_own_deadline(sandbox: Sandbox) -> None:
    script = "x = 0\nfor i in range(1000):\n    x = x + i"
    started = time.monotonic()
    while time.monotonic() - started < LIMIT * 1.2:
        context: dict[str, Any] = {}
        sandbox.execute(script, context)
        assert context["x"] == 499_500


def test_code_leaked_from_a_run_is_dead_afterwards(sandbox: Sandbox) -> None:
    context: dict[str, Any] = {}
    sandbox.execute("functions = [lambda: 1]", context)
    with pytest.raises(Exception, match="time limit"):
        context["functions"][0]()


def test_recursion_error_becomes_script_error(sandbox: Sandbox) -> None:
    with pytest.raises(ScriptError, match="RecursionError") as caught:
        sandbox.execute("x = 1\ndef f():\n    return f()\nf()", {})
    assert caught.value.line in {2, 3}  # the def line (its entry tick) or the call


# -- allowed code ----------------------------------------------------------------------------

EXPRESSIONS = [
    ("amount > 50000", True),
    ("amount * 2 + 1 - 1", 120_000),
    ("amount / 4 // 3 % 7", 5000 % 7),
    ("grade in ('A', 'B') and not blocked or False", True),
    ("grade not in 'BC' and amount >= 60000", True),
    ("len(items) + sum(items) + min(items) + max(items)", 13),
    ("sorted(items, reverse=True)", [3, 2, 1]),
    ("list(reversed(items))", [3, 2, 1]),
    ("[x * 2 for x in items if x > 1]", [4, 6]),
    ("{x for x in items} | {4}", {1, 2, 3, 4}),
    ("{k: v for k, v in zip('abc', items)}", {"a": 1, "b": 2, "c": 3}),
    ("[i for i, x in enumerate(items)]", [0, 1, 2]),
    ("[a for a, b in pairs]", ["a", "b"]),
    ("any(x > 2 for x in items) and all(x > 0 for x in items)", True),
    ("list(map(str, items)) + list(filter(lambda x: x % 2, items))", ["1", "2", "3", 1, 3]),
    ("max(items, key=lambda x: -x)", 1),
    ("(lambda x, y=2: x + y)(1)", 3),
    ("abs(-3) + round(2.5) + round(2.675, 1)", 5 + 2.7),
    ("divmod(7, 2)", (3, 1)),
    ("pow(2, 10) + 2 ** 10 + pow(3, 4, 5)", 2049),
    ("2 ** 9000 > 0 and 1 << 100 > 0", True),
    ("int('42') + int(3.9) + float('1.5') + int(Decimal('2.5'))", 48.5),
    ("str(5) + 'x' + str(bool(0))", "5xFalse"),
    ("isinstance(amount, int) and isinstance(True, int)", True),
    ("isinstance('x', (int, float)) or isinstance(1.5, (int, float))", True),
    ("dict(a=1) == {'a': 1} and tuple(items) == (1, 2, 3)", True),
    ("list(range(3)) + list(range(1, 10, 4))", [0, 1, 2, 1, 5, 9]),
    ("applicant.get('name', '?') + applicant['name']", "LiLi"),
    ("applicant['age'] >= 18 and 'name' in applicant", True),
    ("sorted(applicant.items())", [("age", 30), ("name", "Li")]),
    ("getattr(applicant, 'get')('age')", 30),
    ("f'{amount:,} {grade!r} {amount:>{3 + 5}}'", "60,000 'A'    60000"),
    ("'{} {name}'.format('x', name='y')", "x y"),
    ("'{0[name]} {1}'.format(applicant, 2)", "Li 2"),
    ("'{name}'.format_map(applicant)", "Li"),
    ("'%s-%05d' % ('a', 5)", "a-00005"),
    ("'%(name)s' % applicant", "Li"),
    ("'-'.join(['a', 'b']).upper() + 'a,b'.split(',')[1]", "A-Bb"),
    ("'abc'.replace('b', 'x').ljust(5, '.') + 'x'.zfill(3)", "axc..00x"),
    ("[*items, 4][-1] + {**applicant, 'k': 1}['k']", 5),
    ("items[1:] + items[::-1][:1]", [2, 3, 3]),
    ("datetime(2024, 1, 31) + timedelta(days=1)", datetime(2024, 2, 1)),
    ("date(2024, 3, 1) - timedelta(days=1)", date(2024, 2, 29)),
    ("(date(2024, 3, 1) - date(2024, 1, 1)).days", 60),
    ("datetime(2024, 1, 1).strftime('%Y-%m-%d')", "2024-01-01"),
    ("datetime.strptime('2024-01-02', '%Y-%m-%d').date()", date(2024, 1, 2)),
    ("date.fromisoformat('2024-01-02').isoformat()", "2024-01-02"),
    ("Decimal('0.1') + Decimal('0.2')", Decimal("0.3")),
    ("(Decimal('10') / 3).quantize(Decimal('0.01'))", Decimal("3.33")),
    ("math.floor(2.5) + math.ceil(2.5) + math.sqrt(16) + math.fabs(-1)", 10.0),
    ("math.pi > 3 and math.isclose(math.log10(1000), 3)", True),
    ("print('hello') is None", True),
    ("None", None),
]


@pytest.mark.parametrize(("expression", "expected"), EXPRESSIONS)
def test_allowed_expressions(sandbox: Sandbox, expression: str, expected: Any) -> None:
    assert sandbox.evaluate(expression, data()) == expected


def test_a_realistic_script(sandbox: Sandbox) -> None:
    script = """
def monthly_payment(principal, rate, months):
    r = rate / 12
    return principal * r / (1 - (1 + r) ** -months)

payment = round(monthly_payment(amount, 0.06, 12), 2)
schedule = []
balance = amount
month = 0
while balance > 0 and month < 12:
    month += 1
    interest = round(balance * 0.005, 2)
    balance = round(balance + interest - payment, 2)
    schedule.append({'month': month, 'balance': max(balance, 0)})
counts = {}
for grade_name in ['A', 'B', 'A']:
    counts[grade_name] = counts.get(grade_name, 0) + 1
counts['A'] += 10
first, (second, third) = items[0], items[1:]
head, *tail = items
try:
    ratio = amount / 0
except ZeroDivisionError as exc:
    ratio = None
    problem = str(exc)
applicant['checked'] = True
label = f"{applicant['name']}: {payment:.2f} x {month}"
total = sum(row['balance'] for row in schedule)
due = date(2024, 1, 15) + timedelta(days=30 * month)
fee = Decimal('12.50') * 2
unique = sorted(set(items + [3, 4]))
assert payment > 0, 'payment must be positive'
"""
    context = data()
    sandbox.execute(script, context)
    assert context["payment"] == 5163.99
    assert context["month"] == 12
    assert len(context["schedule"]) == 12
    assert context["counts"] == {"A": 12, "B": 1}
    assert (context["first"], context["second"], context["third"]) == (1, 2, 3)
    assert (context["head"], context["tail"]) == (1, [2, 3])
    assert context["ratio"] is None
    assert context["problem"] == "division by zero"
    assert context["applicant"]["checked"] is True
    assert context["label"] == "Li: 5163.99 x 12"
    assert context["due"] == date(2025, 1, 9)
    assert context["fee"] == Decimal("25.00")
    assert context["unique"] == [1, 2, 3, 4]
    assert "monthly_payment" not in context
    assert "exc" not in context


def test_indented_scripts_are_dedented(sandbox: Sandbox) -> None:
    context: dict[str, Any] = {}
    sandbox.execute("\n    x = 1\n    y = x + 1\n", context)
    assert context == {"x": 1, "y": 2}


def test_print_does_not_write_to_stdout(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    context: dict[str, Any] = {}
    sandbox.execute("print('secret', 42)\nshown = printed\ndef f():\n    print('x')\nf()", context)
    sandbox.evaluate("print('secret')", {})
    assert capsys.readouterr().out == ""
    assert context == {"shown": "secret 42\n"}


# -- write-back -------------------------------------------------------------------------------


def test_execute_writes_back_added_changed_and_deleted_names(sandbox: Sandbox) -> None:
    context: dict[str, Any] = {"keep": 1, "change": 2, "drop": 3, "nested": {"a": 1}}
    sandbox.execute("change = 20\ndel drop\nadded = [1]\nnested['b'] = 2", context)
    assert context == {"keep": 1, "change": 20, "added": [1], "nested": {"a": 1, "b": 2}}


def test_execute_drops_what_is_not_data(sandbox: Sandbox) -> None:
    context: dict[str, Any] = {"was_data": 1}
    script = (
        "def helper():\n    return 1\n"
        "f = lambda: 1\ng = (x for x in [1])\nm = math\nr = range(3)\nz = zip([1], [2])\n"
        "was_data = helper\nkept = helper()\nwhen = datetime(2024, 1, 1)\n"
        "values = (1, 'a', None, 1.5, Decimal('1'), {1}, frozenset(), timedelta(1), b'x')"
    )
    sandbox.execute(script, context)
    assert set(context) == {"kept", "when", "values"}


@pytest.mark.parametrize(
    "script",
    [
        "x = [1]\nfor i in range(60):\n    x = [x, x]",
        "x = {}\nfor i in range(60):\n    x = {'a': x, 'b': x}",
        "items.append(items)",
        "applicant['me'] = applicant",
        "s = 'x' * 1000000\nx = [s] * 100",
    ],
)
def test_execute_refuses_task_data_that_would_serialize_huge(sandbox: Sandbox, script: str) -> None:
    with pytest.raises(ScriptError, match=r"too large|contains itself"):
        sandbox.execute(script, data())


def test_large_task_data_is_fine(sandbox: Sandbox) -> None:
    context: dict[str, Any] = {
        "document": "x" * 3_000_000,
        "rows": [{"a": i} for i in range(30_000)],
    }
    sandbox.execute("count = len(rows)", context)
    assert context["count"] == 30_000
    with pytest.raises(ScriptError, match="contains itself"):
        sandbox.evaluate("[l := [], l.append(l), l][2]", {})
    with pytest.raises(ScriptError, match="too large"):
        sandbox.evaluate("[[['x' * 1000] * 1000] * 1000]", {})


def test_execute_keeps_untouched_values_and_private_names(sandbox: Sandbox) -> None:
    marker = object()
    context: dict[str, Any] = {"opaque": marker, "_private": 1, "_getattr_": "data"}
    sandbox.execute("x = 1", context)
    assert context == {"opaque": marker, "_private": 1, "_getattr_": "data", "x": 1}


def test_execute_hides_extra_names_but_lets_context_win(sandbox: Sandbox) -> None:
    def lookup(key: str) -> str:
        return key.upper()

    context: dict[str, Any] = {"shadowed": "data"}
    extra = {"lookup": lookup, "shadowed": "extra", "constant": 5}
    sandbox.execute("y = lookup('a') + shadowed\nz = constant", context, extra)
    assert context == {"shadowed": "data", "y": "Adata", "z": 5}


def test_failed_execute_writes_nothing_back(sandbox: Sandbox) -> None:
    context: dict[str, Any] = {"a": 1}
    with pytest.raises(ScriptError):
        sandbox.execute("a = 2\nb = 3\nc = missing", context)
    assert context == {"a": 1}


def test_evaluate_does_not_modify_context(sandbox: Sandbox) -> None:
    context = data()
    before = repr(context)
    assert sandbox.evaluate("[y := 5, y][1]", context) == 5
    assert sandbox.evaluate("len(items)", context, {"items": "extra wins not"}) == 3
    assert sandbox.evaluate("extra_name", context, {"extra_name": 7}) == 7
    assert repr(context) == before


def test_evaluate_refuses_results_that_are_not_data(sandbox: Sandbox) -> None:
    for expression in ["lambda: 1", "(x for x in items)", "range(3)", "math", "len"]:
        with pytest.raises(ScriptError, match="not data"):
            sandbox.evaluate(expression, data())


def test_data_shadows_builtins_and_extra_globals() -> None:
    sandbox = Sandbox(time_limit=LIMIT, extra_globals={"rate": 0.05, "double": lambda x: 2 * x})
    assert sandbox.evaluate("double(rate)", {}) == 0.1
    assert sandbox.evaluate("rate", {"rate": 0.07}) == 0.07
    assert sandbox.evaluate("type == 'mortgage' and date", {"type": "mortgage", "date": 1}) == 1


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "line", "message"),
    [
        ("x = 1\ny = missing + 1", 2, "NameError: name 'missing' is not defined"),
        ("def f():\n    return 1 / 0\n\nvalue = f()", 2, "ZeroDivisionError: division by zero"),
        ("x = 1\n\nraise ValueError('amount too high')", 3, "ValueError: amount too high"),
        ("d = {}\nv = d['absent']", 2, "KeyError: 'absent'"),
        ("items = [1]\nitems[5]", 2, "IndexError"),
        ("x = 1\nassert x == 2, 'x must be 2'", 2, "AssertionError: x must be 2"),
        ("s = 'abc'\ns[0] = 'x'", 2, "str cannot be changed"),
        ("x = 1\ny = (\n  1,\n  missing)", 4, "missing"),
        ("x = 1\nif x:\n    y = 1 +", 3, "SyntaxError"),
    ],
)
def test_errors_carry_the_script_line(
    sandbox: Sandbox, script: str, line: int, message: str
) -> None:
    with pytest.raises(ScriptError) as caught:
        sandbox.execute(script, {})
    assert caught.value.line == line
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"line {line}: ")


def test_expression_errors(sandbox: Sandbox) -> None:
    with pytest.raises(ScriptError, match="name 'amount' is not defined") as caught:
        sandbox.evaluate("amount > 50000", {})
    assert caught.value.line == 1


# -- caching and cost -------------------------------------------------------------------------


def test_each_source_is_compiled_once(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = sandbox_module.compile_restricted_eval

    def counting(source: str, **kwargs: Any) -> Any:
        calls.append(source)
        return original(source, **kwargs)

    monkeypatch.setattr(sandbox_module, "compile_restricted_eval", counting)
    fresh = Sandbox(time_limit=LIMIT)
    source = "amount > 12345 and grade == 'compiled-once'"
    for _ in range(100):
        assert fresh.evaluate(source, {"amount": 20000, "grade": "compiled-once"}) is True
    assert Sandbox(time_limit=LIMIT).evaluate(source, {"amount": 1, "grade": ""}) is False
    assert calls == [source]


def test_evaluate_is_cheap(sandbox: Sandbox) -> None:
    context = data()
    sandbox.evaluate("amount > 50000", context)
    started = time.perf_counter()
    for _ in range(10_000):
        sandbox.evaluate("amount > 50000", context)
    assert (time.perf_counter() - started) / 10_000 < 20e-6


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        Sandbox(time_limit=0)
    with pytest.raises(ValueError):
        Sandbox(max_sequence_length=0)


# -- SpiffWorkflow ----------------------------------------------------------------------------

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="scoring" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="score">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>SCRIPT</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gateway" default="low">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>high</bpmn:outgoing>
      <bpmn:outgoing>low</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="high_end"><bpmn:incoming>high</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="low_end"><bpmn:incoming>low</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="score"/>
    <bpmn:sequenceFlow id="f2" sourceRef="score" targetRef="gateway"/>
    <bpmn:sequenceFlow id="high" sourceRef="gateway" targetRef="high_end">
      <bpmn:conditionExpression>CONDITION</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="low" sourceRef="gateway" targetRef="low_end"/>
  </bpmn:process>
</bpmn:definitions>"""


def run_diagram(sandbox: Sandbox, script: str, condition: str, **start: Any) -> BpmnWorkflow:
    parser = BpmnParser()
    xml = DIAGRAM.replace("SCRIPT", script).replace("CONDITION", condition)
    parser.add_bpmn_str(xml.encode())
    engine = PythonScriptEngine(environment=SandboxEnvironment(sandbox))
    workflow = BpmnWorkflow(parser.get_spec("scoring"), script_engine=engine)
    workflow.get_next_task(state=TaskState.READY).data.update(start)
    workflow.do_engine_steps()
    return workflow


def test_environment_runs_a_diagram(sandbox: Sandbox) -> None:
    workflow = run_diagram(
        sandbox, "risk = amount / income\ndel income", "risk &gt; 3", amount=400_000, income=100_000
    )
    assert workflow.completed
    done = [t.task_spec.name for t in workflow.get_tasks(state=TaskState.COMPLETED)]
    assert "high_end" in done
    assert "low_end" not in done
    assert workflow.data == {"amount": 400_000, "risk": 4.0}


@pytest.mark.parametrize(
    ("script", "condition"),
    [
        ("while True:\n    pass", "True"),
        ("import os", "True"),
        ("x = 1", "().__class__.__bases__"),
    ],
)
def test_environment_reports_sandbox_errors(sandbox: Sandbox, script: str, condition: str) -> None:
    with pytest.raises(WorkflowTaskException) as caught:
        run_diagram(sandbox, script, condition)
    assert caught.value.error_type == "ScriptError"


def test_environment_interface(sandbox: Sandbox) -> None:
    environment = SandboxEnvironment(sandbox)
    context: dict[str, Any] = {"a": 1}
    assert environment.evaluate("a + b", context, {"b": 2}) == 3
    assert environment.execute("c = a + b", context, {"b": 2}) is True
    assert context == {"a": 1, "c": 3}
