"""The worker SDK: declaring, running and collecting workers."""

# Deferred annotations on purpose: @worker must resolve them with get_type_hints.
from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import types
from collections.abc import Callable
from datetime import date
from importlib.metadata import EntryPoint
from typing import Any

import pytest
from pydantic import BaseModel, Field

from loanflow.engine.errors import BusinessError, LoanflowError, WorkerError
from loanflow.workers import (
    PluginProblem,
    WorkerDefinition,
    WorkerRegistry,
    collect_workers,
    definition_of,
    run_worker,
    run_worker_async,
    worker,
)
from loanflow.workers import registry as registry_module
from loanflow.workers.builtin import BUILTIN_WORKERS


class Line(BaseModel):
    sku: str
    qty: int = Field(gt=0)


class Order(BaseModel):
    customer: str
    lines: list[Line]
    on: date | None = None


class Quote(BaseModel):
    total_qty: int
    on: date | None


@worker("shop.quote", retries=5, backoff=2.5, lock_seconds=60)
def quote(order: Order) -> Quote:
    """Add up an order.

    Second paragraph, not part of the description.
    """
    return Quote(total_qty=sum(line.qty for line in order.lines), on=order.on)


@worker("shop.quote_async")
async def quote_async(order: Order) -> Quote:
    """Add up an order,
    asynchronously."""
    await asyncio.sleep(0)
    return Quote(total_qty=sum(line.qty for line in order.lines), on=order.on)


@worker("shop.refuse")
def refuse(order: Order) -> Quote:
    raise BusinessError("CUSTOMER_BLOCKED", f"{order.customer} is blocked", {"blocked": True})


@worker("shop.flaky")
def flaky(order: Order) -> Quote:
    raise ConnectionError("bureau unreachable")


@worker("shop.wrong_result")
def wrong_result(order: Order) -> Quote:
    return Line(sku="x", qty=1)  # type: ignore[return-value]


@worker("shop.wrong_result_async")
async def wrong_result_async(order: Order) -> Quote:
    return {"total_qty": 1, "on": None}  # type: ignore[return-value]


ORDER = {"customer": "Li Lei", "lines": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 3}]}


# --- declaring --------------------------------------------------------------------------


def test_definition_records_the_declaration() -> None:
    defn = definition_of(quote)
    assert isinstance(defn, WorkerDefinition)
    assert defn == quote.__loanflow_worker__  # type: ignore[attr-defined]
    assert defn.topic == "shop.quote"
    assert defn.fn is quote
    assert defn.input_model is Order
    assert defn.output_model is Quote
    assert (defn.retries, defn.backoff, defn.lock_seconds) == (5, 2.5, 60)
    assert defn.is_async is False
    assert defn.description == "Add up an order."
    assert defn.name.endswith("quote")


def test_defaults_async_and_description() -> None:
    defn = definition_of(quote_async)
    assert (defn.retries, defn.backoff, defn.lock_seconds) == (3, 10.0, 300.0)
    assert defn.is_async is True
    assert defn.output_model is Quote
    assert defn.description == "Add up an order, asynchronously."
    assert definition_of(refuse).description == ""


def test_decorator_returns_the_function_unchanged() -> None:
    def plain(order: Order) -> Quote:
        return Quote(total_qty=0, on=None)

    assert worker("shop.plain")(plain) is plain
    assert quote(Order.model_validate(ORDER)).total_qty == 5


def test_definition_is_frozen() -> None:
    defn = definition_of(quote)
    with pytest.raises(dataclasses.FrozenInstanceError):
        defn.retries = 0  # type: ignore[misc]


def test_schemas() -> None:
    defn = definition_of(quote)
    schema_in = defn.input_schema()
    assert schema_in["required"] == ["customer", "lines"]
    assert schema_in["$defs"]["Line"]["properties"]["qty"]["exclusiveMinimum"] == 0
    assert set(defn.output_schema()["properties"]) == {"total_qty", "on"}


def test_no_global_registry() -> None:
    registry = WorkerRegistry([quote])
    assert registry.topics() == ["shop.quote"]
    assert "shop.quote_async" not in WorkerRegistry()


def test_definition_of_undecorated() -> None:
    def plain(order: Order) -> Quote:
        raise AssertionError

    with pytest.raises(TypeError, match="not declared with @worker"):
        definition_of(plain)
    with pytest.raises(TypeError, match="not declared with @worker"):
        definition_of(42)


@pytest.mark.parametrize(
    "topic",
    [
        "ocr",
        "OCR.id_card",
        "ocr.IdCard",
        "ocr.",
        ".ocr",
        "ocr..id",
        "1ocr.id",
        "ocr.id-card",
        "ocr.id card",
        "ocr.id\n",
        "ocr._id",
        "",
    ],
)
def test_bad_topic(topic: str) -> None:
    with pytest.raises(TypeError, match="dotted lowercase name"):
        worker(topic)


@pytest.mark.parametrize("topic", ["ocr.id_card", "a.b", "risk.v2.score", "notify.sms_2"])
def test_good_topic(topic: str) -> None:
    def fn(order: Order) -> Quote:
        raise AssertionError

    assert definition_of(worker(topic)(fn)).topic == topic


def _no_params() -> Quote:
    raise AssertionError


def _two_params(order: Order, extra: Order) -> Quote:
    raise AssertionError


def _var_args(*orders: Order) -> Quote:
    raise AssertionError


def _var_kwargs(**orders: Order) -> Quote:
    raise AssertionError


def _keyword_only(*, order: Order) -> Quote:
    raise AssertionError


def _unannotated(order) -> Quote:  # type: ignore[no-untyped-def]
    raise AssertionError


def _dict_param(order: dict[str, Any]) -> Quote:
    raise AssertionError


def _optional_param(order: Order | None) -> Quote:
    raise AssertionError


def _base_model_param(order: BaseModel) -> Quote:
    raise AssertionError


def _no_return(order: Order):  # type: ignore[no-untyped-def]
    raise AssertionError


def _dict_return(order: Order) -> dict[str, Any]:
    raise AssertionError


async def _async_dict_return(order: Order) -> dict[str, Any]:
    raise AssertionError


def _unresolvable(order: Missing) -> Quote:  # type: ignore[name-defined]  # noqa: F821
    raise AssertionError


def _generator(order: Order):  # type: ignore[no-untyped-def]
    yield Quote(total_qty=0, on=None)


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (_no_params, "exactly one parameter"),
        (_two_params, "exactly one parameter"),
        (_var_args, "plain positional parameter"),
        (_var_kwargs, "plain positional parameter"),
        (_keyword_only, "plain positional parameter"),
        (_unannotated, "annotated with a pydantic BaseModel subclass"),
        (_dict_param, "annotated with a pydantic BaseModel subclass"),
        (_optional_param, "annotated with a pydantic BaseModel subclass"),
        (_base_model_param, "annotated with a pydantic BaseModel subclass"),
        (_no_return, "return annotation must be a pydantic BaseModel"),
        (_dict_return, "return annotation must be a pydantic BaseModel"),
        (_async_dict_return, "return annotation must be a pydantic BaseModel"),
        (_unresolvable, "cannot resolve its type annotations"),
        (_generator, "cannot be a generator"),
        (Order, "applies to a function"),
        (quote, "already declared as worker 'shop.quote'"),
    ],
)
def test_bad_signature(fn: Callable[..., Any], message: str) -> None:
    with pytest.raises(TypeError, match=message) as caught:
        worker("shop.bad")(fn)
    assert not hasattr(fn, "__loanflow_worker__") or fn is quote
    if fn is not Order:
        assert fn.__name__ in str(caught.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, "retries must be an int >= 0"),
        ({"retries": True}, "retries must be an int >= 0"),
        ({"retries": 1.5}, "retries must be an int >= 0"),
        ({"backoff": -0.1}, "backoff must be a finite number >= 0"),
        ({"backoff": float("nan")}, "backoff must be a finite number >= 0"),
        ({"lock_seconds": 0}, "lock_seconds must be a finite number > 0"),
        ({"lock_seconds": float("inf")}, "lock_seconds must be a finite number > 0"),
    ],
)
def test_bad_policy(options: dict[str, Any], message: str) -> None:
    def fn(order: Order) -> Quote:
        raise AssertionError

    with pytest.raises(TypeError, match=message):
        worker("shop.policy", **options)(fn)


def test_zero_retries_and_backoff_are_allowed() -> None:
    def fn(order: Order) -> Quote:
        raise AssertionError

    defn = definition_of(worker("shop.once", retries=0, backoff=0)(fn))
    assert (defn.retries, defn.backoff) == (0, 0)


# --- running ----------------------------------------------------------------------------


def test_run_sync_worker_returns_json_data() -> None:
    result = run_worker(definition_of(quote), {**ORDER, "on": "2024-05-06"})
    assert result == {"total_qty": 5, "on": "2024-05-06"}


def test_run_async_worker_from_sync_code() -> None:
    assert run_worker(definition_of(quote_async), ORDER) == {"total_qty": 5, "on": None}


def test_run_worker_async_with_async_and_sync_workers() -> None:
    async def main() -> list[dict[str, Any]]:
        return [
            await run_worker_async(definition_of(quote_async), ORDER),
            await run_worker_async(definition_of(quote), ORDER),
        ]

    assert asyncio.run(main()) == [{"total_qty": 5, "on": None}] * 2


def test_run_worker_refuses_async_worker_inside_a_running_loop() -> None:
    async def main() -> None:
        run_worker(definition_of(quote_async), ORDER)

    with pytest.raises(RuntimeError, match="run_worker_async"):
        asyncio.run(main())


def test_bad_payload_is_not_retryable_and_names_each_field() -> None:
    payload = {"lines": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": -7}], "on": "soon"}
    with pytest.raises(WorkerError) as caught:
        run_worker(definition_of(quote), payload)
    error = caught.value
    assert error.retryable is False
    assert "shop.quote" in error.message
    for path in ("customer", "lines.1.qty", "on"):
        assert f"{path}:" in error.message
    assert "-7" not in error.message and "soon" not in error.message


def test_bad_payload_async() -> None:
    with pytest.raises(WorkerError, match=r"lines\.0\.sku") as caught:
        asyncio.run(run_worker_async(definition_of(quote_async), {"customer": "x", "lines": [{}]}))
    assert caught.value.retryable is False


def test_payload_that_is_not_an_object() -> None:
    with pytest.raises(WorkerError, match="must be an object") as caught:
        run_worker(definition_of(quote), ["not", "a", "mapping"])  # type: ignore[arg-type]
    assert caught.value.retryable is False


def test_wrong_result_type_is_not_retryable() -> None:
    with pytest.raises(WorkerError, match="returned Line, expected Quote") as caught:
        run_worker(definition_of(wrong_result), ORDER)
    assert caught.value.retryable is False
    with pytest.raises(WorkerError, match="returned dict, expected Quote") as caught:
        asyncio.run(run_worker_async(definition_of(wrong_result_async), ORDER))
    assert caught.value.retryable is False


def test_business_error_propagates_unchanged() -> None:
    runs: list[Callable[[], object]] = [
        lambda: run_worker(definition_of(refuse), ORDER),
        lambda: asyncio.run(run_worker_async(definition_of(refuse), ORDER)),
    ]
    for run in runs:
        with pytest.raises(BusinessError) as caught:
            run()
        assert caught.value.code == "CUSTOMER_BLOCKED"
        assert caught.value.variables == {"blocked": True}
        assert str(caught.value) == "Li Lei is blocked"


def test_other_exceptions_propagate_unchanged() -> None:
    with pytest.raises(ConnectionError, match="bureau unreachable"):
        run_worker(definition_of(flaky), ORDER)
    with pytest.raises(ConnectionError, match="bureau unreachable"):
        asyncio.run(run_worker_async(definition_of(flaky), ORDER))


def test_worker_error_is_retryable_by_default() -> None:
    error = WorkerError("timeout")
    assert error.retryable is True
    assert isinstance(error, LoanflowError)
    assert str(error) == "timeout"
    assert WorkerError("bad", retryable=False).retryable is False


# --- registry ---------------------------------------------------------------------------


def _other_quote(order: Order) -> Quote:
    raise AssertionError


def test_registry_lookup() -> None:
    registry = WorkerRegistry([quote_async, definition_of(quote), refuse])
    assert len(registry) == 3
    assert registry.topics() == ["shop.quote", "shop.quote_async", "shop.refuse"]
    assert [d.topic for d in registry] == registry.topics()
    assert registry.get("shop.quote") == definition_of(quote)
    assert registry.get("shop.nothing") is None
    assert "shop.refuse" in registry
    assert "shop.nothing" not in registry
    assert 42 not in registry


def test_registry_rejects_duplicate_topics_naming_both_functions() -> None:
    clone = dataclasses.replace(definition_of(quote), fn=_other_quote)
    with pytest.raises(ValueError, match=r"'shop\.quote' is declared by both") as caught:
        WorkerRegistry([quote, clone])
    assert "test_sdk.quote" in str(caught.value)
    assert "_other_quote" in str(caught.value)


def test_registry_accepts_the_same_worker_twice() -> None:
    assert WorkerRegistry([quote, quote, definition_of(quote)]).topics() == ["shop.quote"]


def test_registry_rejects_undecorated_functions() -> None:
    with pytest.raises(TypeError, match="not declared with @worker"):
        WorkerRegistry([_other_quote])


def test_worker_definition_checks_policy_when_built_directly() -> None:
    defn = definition_of(quote)
    with pytest.raises(TypeError, match="dotted lowercase name"):
        dataclasses.replace(defn, topic="Quote")
    with pytest.raises(TypeError, match="lock_seconds"):
        dataclasses.replace(defn, lock_seconds=-1)


# --- collecting -------------------------------------------------------------------------


@pytest.fixture
def plugin_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("loanflow_test_plugin")

    @worker("calc.repayment_schedule")
    def rival(order: Order) -> Quote:
        raise AssertionError

    module.__dict__.update(
        WORKERS=[quote, rival],
        single=quote_async,
        EMPTY=(),
        rival=rival,
    )
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def _use_entry_points(monkeypatch: pytest.MonkeyPatch, *values: str) -> None:
    points = [
        EntryPoint(f"ep{i}", value, registry_module.ENTRY_POINT_GROUP)
        for i, value in enumerate(values)
    ]

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        assert group == "loanflow.workers"
        return points

    monkeypatch.setattr(registry_module, "entry_points", fake_entry_points)


def test_collect_builtin_only(monkeypatch: pytest.MonkeyPatch) -> None:
    _use_entry_points(monkeypatch)
    registry, problems = collect_workers()
    assert problems == []
    assert registry.topics() == sorted(definition_of(fn).topic for fn in BUILTIN_WORKERS)
    assert registry.topics() == [
        "approval.plan",
        "calc.repayment_schedule",
        "identity.check_id_number",
    ]


def test_collect_extra_and_no_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    _use_entry_points(monkeypatch, "loanflow_test_plugin:single")
    registry, problems = collect_workers(builtin=False, plugins=False, extra=[quote])
    assert (registry.topics(), problems) == (["shop.quote"], [])


def test_collect_extra_clashing_with_builtin_raises(plugin_module: types.ModuleType) -> None:
    with pytest.raises(ValueError, match=r"'calc\.repayment_schedule' is declared by both"):
        collect_workers(plugins=False, extra=[plugin_module.rival])


def test_collect_reports_broken_plugins_and_keeps_the_rest(
    monkeypatch: pytest.MonkeyPatch,
    plugin_module: types.ModuleType,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _use_entry_points(
        monkeypatch,
        "loanflow_no_such_plugin.workers:WORKERS",  # ep0: module does not exist
        "os.path:join",  # ep1: not a worker
        "loanflow_test_plugin:WORKERS",  # ep2: one good, one clashing with a built-in
        "loanflow_test_plugin:single",  # ep3: one good worker
        "loanflow_test_plugin:missing",  # ep4: no such attribute
        "loanflow_test_plugin:EMPTY",  # ep5: nothing offered
        "loanflow.workers.builtin:BUILTIN_WORKERS",  # ep6: the same built-ins again: harmless
    )
    with caplog.at_level(logging.WARNING, logger="loanflow.workers.registry"):
        registry, problems = collect_workers()

    assert registry.topics() == [
        "approval.plan",
        "calc.repayment_schedule",
        "identity.check_id_number",
        "shop.quote",
        "shop.quote_async",
    ]
    assert registry.get("calc.repayment_schedule") == definition_of(BUILTIN_WORKERS[0])
    assert all(isinstance(p, PluginProblem) for p in problems)
    by_entry = {p.entry_point.split(" = ")[0]: p.message for p in problems}
    assert set(by_entry) == {"ep0", "ep1", "ep2", "ep4", "ep5"}
    assert problems[0].entry_point == "ep0 = loanflow_no_such_plugin.workers:WORKERS"
    assert "ModuleNotFoundError" in by_entry["ep0"]
    assert "posixpath.join is not declared with @worker" in by_entry["ep1"]
    assert "'calc.repayment_schedule' is declared by both" in by_entry["ep2"]
    assert "rival" in by_entry["ep2"]
    assert "AttributeError" in by_entry["ep4"]
    assert by_entry["ep5"] == "offers no workers"

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(problems)
    assert "skipping worker plugin ep0 = loanflow_no_such_plugin" in warnings[0].getMessage()


def test_collect_without_plugins_does_not_read_entry_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(*, group: str) -> list[EntryPoint]:
        raise AssertionError("entry points read")

    monkeypatch.setattr(registry_module, "entry_points", boom)
    registry, problems = collect_workers(plugins=False)
    assert len(registry) == len(BUILTIN_WORKERS) and problems == []
