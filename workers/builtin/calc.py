"""Loan arithmetic: repayment schedules for the two methods Chinese banks quote.

- 等额本息 (``equal_installment``): the same payment every month; early payments are
  mostly interest. Payment = P·r·(1+r)^n / ((1+r)^n − 1), r = annual rate / 12.
- 等额本金 (``equal_principal``): the same principal every month plus the interest on
  what remains, so payments fall over time and total interest is lower.

All money is computed in Decimal and rounded to the cent with ROUND_HALF_UP in every
period; the last period absorbs the rounding so the principal parts sum exactly to the
principal and the loan ends at zero.
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Literal

from pydantic import BaseModel, Field

from loanflow.workers.sdk import worker

__all__ = [
    "Period",
    "RepaymentScheduleInput",
    "RepaymentScheduleOutput",
    "add_months",
    "repayment_schedule",
]

CENT = Decimal("0.01")

Method = Literal["equal_installment", "equal_principal"]


class RepaymentScheduleInput(BaseModel):
    principal: Decimal = Field(
        gt=0,
        le=1_000_000_000,
        decimal_places=2,
        allow_inf_nan=False,
        description="Amount lent, in yuan, at most two decimals (a number or a numeric string).",
    )
    annual_rate: float = Field(
        ge=0, lt=1, allow_inf_nan=False, description="Nominal annual rate, e.g. 0.0435 for 4.35%."
    )
    months: int = Field(ge=1, le=360, description="Number of monthly repayments.")
    method: Method = Field(
        default="equal_installment",
        description="equal_installment (等额本息) or equal_principal (等额本金).",
    )
    start_date: date | None = Field(
        default=None,
        description="Disbursement date; period k falls due k months later. "
        "Without it the periods are only numbered.",
    )


class Period(BaseModel):
    period: int
    due_date: date | None
    payment: float
    principal: float
    interest: float
    remaining: float = Field(description="Principal still owed after this payment.")


class RepaymentScheduleOutput(BaseModel):
    method: Method
    monthly_payment: float = Field(description="The first period's payment.")
    total_interest: float
    total_payment: float
    schedule: list[Period]


def add_months(start: date, months: int) -> date:
    """``start`` moved by whole months, the day clamped to the month's end (Jan 31 → Feb 28)."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _installment(principal: Decimal, rate: Decimal, months: int) -> Decimal:
    if rate == 0:
        return _cents(principal / months)
    growth = (1 + rate) ** months
    return _cents(principal * rate * growth / (growth - 1))


@worker("calc.repayment_schedule", retries=0)
def repayment_schedule(job: RepaymentScheduleInput) -> RepaymentScheduleOutput:
    """Compute a monthly repayment schedule (等额本息 or 等额本金) to the cent.

    Pure arithmetic, so it is never retried: a failure here is a bug or bad input.
    """
    with localcontext() as ctx:
        ctx.prec = 40
        principal = job.principal
        rate = Decimal(str(job.annual_rate)) / 12
        n = job.months
        installment = _installment(principal, rate, n)
        principal_part = _cents(principal / n)

        rows: list[Period] = []
        remaining = principal
        total_interest = Decimal(0)
        for k in range(1, n + 1):
            interest = _cents(remaining * rate)
            if k == n:
                paid = remaining
            elif job.method == "equal_installment":
                paid = min(installment - interest, remaining)
            else:
                paid = min(principal_part, remaining)
            remaining -= paid
            total_interest += interest
            rows.append(
                Period(
                    period=k,
                    due_date=add_months(job.start_date, k) if job.start_date else None,
                    payment=float(paid + interest),
                    principal=float(paid),
                    interest=float(interest),
                    remaining=float(remaining),
                )
            )
    return RepaymentScheduleOutput(
        method=job.method,
        monthly_payment=rows[0].payment,
        total_interest=float(total_interest),
        total_payment=float(principal + total_interest),
        schedule=rows,
    )
