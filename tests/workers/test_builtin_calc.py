"""calc.repayment_schedule: known answers and the invariants every schedule keeps."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from loanflow.engine.errors import WorkerError
from loanflow.workers import definition_of, run_worker
from loanflow.workers.builtin.calc import (
    RepaymentScheduleInput,
    RepaymentScheduleOutput,
    add_months,
    repayment_schedule,
)

DEFN = definition_of(repayment_schedule)


def schedule(**fields: Any) -> RepaymentScheduleOutput:
    return repayment_schedule(RepaymentScheduleInput.model_validate(fields))


def dec(value: float) -> Decimal:
    return Decimal(str(value))


def test_declaration() -> None:
    assert DEFN.topic == "calc.repayment_schedule"
    assert DEFN.retries == 0
    assert DEFN.is_async is False


def test_equal_installment_known_answer() -> None:
    principal, rate, n = Decimal(100_000), Decimal("0.0435") / 12, 12
    growth = (1 + rate) ** n
    expected = (principal * rate * growth / (growth - 1)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    assert expected == Decimal("8530.99")

    result = schedule(principal=100_000, annual_rate=0.0435, months=12)
    assert result.method == "equal_installment"
    assert dec(result.monthly_payment) == expected
    assert [dec(p.payment) for p in result.schedule[:-1]] == [expected] * 11
    # The first month's interest is 100,000 × 0.3625% = 362.50.
    first = result.schedule[0]
    assert (dec(first.interest), dec(first.principal)) == (Decimal("362.50"), Decimal("8168.49"))
    assert dec(first.remaining) == Decimal("91831.51")
    assert abs(dec(result.schedule[-1].payment) - expected) <= Decimal("0.05")
    assert dec(result.total_interest) == sum(dec(p.interest) for p in result.schedule)
    assert Decimal("2371") < dec(result.total_interest) < Decimal("2373")


def test_equal_principal_known_answer() -> None:
    result = schedule(principal=120_000, annual_rate=0.06, months=12, method="equal_principal")
    assert result.method == "equal_principal"
    assert {dec(p.principal) for p in result.schedule} == {Decimal(10_000)}
    assert dec(result.monthly_payment) == Decimal("10600.00")
    assert dec(result.schedule[-1].payment) == Decimal("10050.00")
    assert dec(result.total_interest) == Decimal("3900.00")
    assert dec(result.total_payment) == Decimal("123900.00")
    payments = [p.payment for p in result.schedule]
    assert payments == sorted(payments, reverse=True)
    assert payments[0] > payments[-1]


@pytest.mark.parametrize("method", ["equal_installment", "equal_principal"])
@pytest.mark.parametrize(
    ("principal", "rate", "months"),
    [
        (100_000, 0.0435, 12),
        (333_333.33, 0.049, 7),
        (1_000_000_000, 0.2399, 360),
        (0.01, 0.05, 3),
        (50_000.05, 0.0, 36),
        (12_345.67, 0.999, 1),
        ("88888.88", 0.0365, 240),
    ],
)
def test_invariants(principal: float | str, rate: float, months: int, method: str) -> None:
    result = schedule(principal=principal, annual_rate=rate, months=months, method=method)
    rows = result.schedule
    total = Decimal(str(principal))

    assert [p.period for p in rows] == list(range(1, months + 1))
    assert sum(dec(p.principal) for p in rows) == total
    assert dec(rows[-1].remaining) == 0
    remaining = total
    for p in rows:
        assert dec(p.payment) == dec(p.principal) + dec(p.interest)
        assert dec(p.principal) >= 0 and dec(p.interest) >= 0
        for amount in (p.payment, p.principal, p.interest, p.remaining):
            assert dec(amount) == dec(amount).quantize(Decimal("0.01"))
        remaining -= dec(p.principal)
        assert dec(p.remaining) == remaining
        assert p.due_date is None
    assert dec(result.total_interest) == sum(dec(p.interest) for p in rows)
    assert dec(result.total_payment) == total + dec(result.total_interest)
    assert result.monthly_payment == rows[0].payment


def test_zero_rate_splits_the_principal() -> None:
    result = schedule(principal=1000, annual_rate=0, months=3)
    assert [dec(p.payment) for p in result.schedule] == [
        Decimal("333.33"),
        Decimal("333.33"),
        Decimal("333.34"),
    ]
    assert result.total_interest == 0


def test_equal_principal_costs_less_interest() -> None:
    loan = {"principal": 300_000, "annual_rate": 0.049, "months": 120}
    installment = schedule(**loan)
    principal = schedule(**loan, method="equal_principal")
    assert principal.total_interest < installment.total_interest
    assert principal.monthly_payment > installment.monthly_payment


def test_due_dates_follow_the_start_date_clamped_to_month_end() -> None:
    result = schedule(principal=6000, annual_rate=0.05, months=4, start_date="2024-01-31")
    assert [p.due_date for p in result.schedule] == [
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
        date(2024, 5, 31),
    ]
    assert add_months(date(2023, 11, 15), 14) == date(2025, 1, 15)


def test_runs_through_the_sdk_as_json() -> None:
    result = run_worker(
        DEFN, {"principal": 100000, "annual_rate": 0.0435, "months": 12, "start_date": "2024-03-10"}
    )
    assert result["monthly_payment"] == 8530.99
    assert result["schedule"][0] == {
        "period": 1,
        "due_date": "2024-04-10",
        "payment": 8530.99,
        "principal": 8168.49,
        "interest": 362.5,
        "remaining": 91831.51,
    }
    assert result["schedule"][-1]["remaining"] == 0


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"principal": 0}, "principal", "greater than 0"),
        ({"principal": -5}, "principal", "greater than 0"),
        ({"principal": 1_000_000_000.01}, "principal", "less than or equal to 1000000000"),
        ({"principal": 100.001}, "principal", "no more than 2 decimal places"),
        ({"principal": "lots"}, "principal", "valid decimal"),
        ({"principal": float("nan")}, "principal", ""),
        ({"annual_rate": 1}, "annual_rate", "less than 1"),
        ({"annual_rate": -0.01}, "annual_rate", "greater than or equal to 0"),
        ({"months": 0}, "months", "greater than or equal to 1"),
        ({"months": 361}, "months", "less than or equal to 360"),
        ({"months": 12.5}, "months", "valid integer"),
        ({"method": "balloon"}, "method", "'equal_installment' or 'equal_principal'"),
        ({"start_date": "2024-02-30"}, "start_date", "valid date"),
    ],
)
def test_invalid_input_is_rejected(change: dict[str, Any], field: str, reason: str) -> None:
    payload = {"principal": 100_000, "annual_rate": 0.0435, "months": 12, **change}
    with pytest.raises(WorkerError) as caught:
        run_worker(DEFN, payload)
    assert caught.value.retryable is False
    assert f"{field}: " in caught.value.message
    assert reason in caught.value.message


def test_missing_fields_are_named() -> None:
    with pytest.raises(WorkerError) as caught:
        run_worker(DEFN, {"principal": 1000})
    assert "annual_rate: Field required" in caught.value.message
    assert "months: Field required" in caught.value.message
