"""Credit limit and interest rate from the risk grade, income, debt and product rules.

Every step appends a :class:`TrailStep` (rule, the values it used, what it did), so a
reviewer can follow how the limit and the rate came about. The limit is the smallest of:
the amount asked for, the product's and the bank's maximum, a multiple of monthly income,
and the principal whose equal monthly installment keeps the debt-to-income ratio under the
cap; rounded down to whole thousands. The rate is the 1-year LPR plus the grade's spread and
adjustments, clamped to the product's floor and to ``max_rate``, which may not exceed four
times the LPR (the judicial protection cap for private lending).
"""

from __future__ import annotations

import math
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loanflow.engine.errors import WorkerError
from loanflow.workers.risk._models import Application
from loanflow.workers.sdk import worker

__all__ = [
    "PricingInput",
    "PricingOutput",
    "PricingRules",
    "ProductRule",
    "TrailStep",
    "affordable_principal",
    "installment",
    "price_application",
]

ANY_PRODUCT = "*"


class ProductRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_limit: float = Field(gt=0, allow_inf_nan=False, description="Yuan.")
    min_limit: float = Field(default=1000, ge=0, allow_inf_nan=False, description="Yuan.")
    max_term_months: int = Field(ge=1, le=360)
    rate_floor: float | None = Field(default=None, ge=0, lt=1, allow_inf_nan=False)
    income_multiple: float = Field(
        gt=0, allow_inf_nan=False, description="Limit as months of monthly income."
    )

    @model_validator(mode="after")
    def _limits(self) -> Self:
        if self.min_limit > self.max_limit:
            raise ValueError(f"min_limit {self.min_limit} is above max_limit {self.max_limit}")
        return self


def _default_products() -> dict[str, ProductRule]:
    return {
        ANY_PRODUCT: ProductRule(max_limit=300_000, max_term_months=36, income_multiple=24),
        "agri": ProductRule(max_limit=200_000, max_term_months=36, income_multiple=30),
        "consumer": ProductRule(max_limit=200_000, max_term_months=36, income_multiple=20),
        "business": ProductRule(
            max_limit=1_000_000, min_limit=10_000, max_term_months=60, income_multiple=36
        ),
    }


class PricingRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    base_rate: float = Field(
        default=0.0310, gt=0, lt=1, allow_inf_nan=False, description="1-year LPR."
    )
    grade_spread: dict[str, float] = Field(
        default_factory=lambda: {"A": 0.006, "B": 0.012, "C": 0.024, "D": 0.045}
    )
    declined_grades: list[str] = Field(default_factory=lambda: ["E"])
    max_rate: float = Field(default=0.12, gt=0, lt=1, allow_inf_nan=False)
    rate_floor: float | None = Field(
        default=None, ge=0, lt=1, description="Lowest rate of any product; base_rate when None."
    )
    long_term_months: int = Field(default=36, ge=1)
    long_term_add: float = Field(default=0.005, ge=0, lt=1, allow_inf_nan=False)
    secured_discount: float = Field(
        default=0.003,
        ge=0,
        lt=1,
        allow_inf_nan=False,
        description="Off the rate when the application says ``secured: true``.",
    )
    products: dict[str, ProductRule] = Field(default_factory=_default_products, min_length=1)
    max_limit: float = Field(
        default=500_000, gt=0, allow_inf_nan=False, description="The bank's cap, any product."
    )
    dti_cap: float = Field(default=0.55, gt=0, le=1, allow_inf_nan=False)
    round_to: int = Field(default=1000, ge=1, description="The limit is rounded down to this.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        cap = round(4 * self.base_rate, 10)
        if self.max_rate > cap:
            raise ValueError(
                f"max_rate {self.max_rate} exceeds 4 x base_rate ({cap}), the judicial cap"
            )
        bad = {g: s for g, s in self.grade_spread.items() if not 0 <= s < 1}
        if bad:
            raise ValueError(f"grade spreads must be in [0, 1): {bad}")
        floors = [self.rate_floor] + [p.rate_floor for p in self.products.values()]
        for floor in floors:
            if floor is not None and floor > self.max_rate:
                raise ValueError(f"a rate floor {floor} is above max_rate {self.max_rate}")
        return self

    def product(self, name: str) -> tuple[str, ProductRule]:
        if name in self.products:
            return name, self.products[name]
        if ANY_PRODUCT in self.products:
            return ANY_PRODUCT, self.products[ANY_PRODUCT]
        raise WorkerError(
            f"pricing rules have no product {name!r} and no '*' fallback", retryable=False
        )


class TrailStep(BaseModel):
    rule: str = Field(description="Stable code, e.g. 'limit.income_multiple'.")
    inputs: dict[str, Any]
    effect: str
    value: float | None = Field(default=None, description="The figure the step produced.")


class PricingInput(BaseModel):
    tenant: str | None = None
    instance_id: str | None = None
    application: Application
    grade: str = Field(min_length=1, max_length=8)
    rules: PricingRules = Field(default_factory=PricingRules)


class PricingOutput(BaseModel):
    approved: bool
    grade: str
    product: str = Field(description="The product rule applied ('*' for the fallback).")
    limit: float = Field(description="Yuan; 0 when not approved.")
    rate: float | None = Field(description="Annual rate; None when the grade is declined.")
    term_months: int
    monthly_payment: float | None
    reasons: list[str]
    trail: list[TrailStep]


def installment(principal: float, annual_rate: float, months: int) -> float:
    """The equal monthly installment (等额本息) of ``principal``, to the cent."""
    rate = annual_rate / 12
    if rate == 0:
        return round(principal / months, 2)
    growth = (1 + rate) ** months
    return round(principal * rate * growth / (growth - 1), 2)


def affordable_principal(payment: float, annual_rate: float, months: int) -> float:
    """The principal whose equal monthly installment is ``payment`` (0 if not positive)."""
    if payment <= 0:
        return 0.0
    rate = annual_rate / 12
    if rate == 0:
        return payment * months
    return payment * (1 - (1 + rate) ** -months) / rate


def _round_down(amount: float, unit: int) -> float:
    return float(math.floor(amount / unit + 1e-9) * unit)


def _rate(job: PricingInput, product: ProductRule, term: int, trail: list[TrailStep]) -> float:
    rules, grade = job.rules, job.grade
    rate = rules.base_rate
    trail.append(
        TrailStep(
            rule="rate.base",
            inputs={"base_rate": rate},
            effect="start from the 1-year LPR",
            value=rate,
        )
    )
    spread = rules.grade_spread[grade]
    rate += spread
    trail.append(
        TrailStep(
            rule="rate.grade_spread",
            inputs={"grade": grade, "spread": spread},
            effect=f"+{spread:.4f} for grade {grade}",
            value=round(rate, 6),
        )
    )
    if term > rules.long_term_months:
        rate += rules.long_term_add
        trail.append(
            TrailStep(
                rule="rate.long_term",
                inputs={
                    "term_months": term,
                    "over": rules.long_term_months,
                    "add": rules.long_term_add,
                },
                effect=f"+{rules.long_term_add:.4f} for a term over "
                f"{rules.long_term_months} months",
                value=round(rate, 6),
            )
        )
    secured = bool((job.application.model_extra or {}).get("secured"))
    if secured and rules.secured_discount:
        rate -= rules.secured_discount
        trail.append(
            TrailStep(
                rule="rate.secured",
                inputs={"secured": True, "discount": rules.secured_discount},
                effect=f"-{rules.secured_discount:.4f} for a secured loan",
                value=round(rate, 6),
            )
        )
    floor = product.rate_floor if product.rate_floor is not None else rules.rate_floor
    floor = rules.base_rate if floor is None else floor
    clamped = round(min(max(rate, floor), rules.max_rate), 6)
    if clamped > rate + 1e-12:
        effect = f"raised to the floor {floor:.4f}"
    elif clamped < rate - 1e-12:
        effect = f"capped at max_rate {rules.max_rate:.4f}"
    else:
        effect = "within the floor and max_rate"
    trail.append(
        TrailStep(
            rule="rate.clamp",
            inputs={"rate": round(rate, 6), "floor": floor, "max_rate": rules.max_rate},
            effect=effect,
            value=clamped,
        )
    )
    return clamped


def _limit(
    job: PricingInput,
    product_name: str,
    product: ProductRule,
    term: int,
    rate: float,
    trail: list[TrailStep],
) -> float:
    applicant = job.application.applicant
    rules = job.rules
    income, debt = applicant.monthly_income, applicant.monthly_debt_payment
    room = rules.dti_cap * income - debt
    candidates = [
        (
            "limit.requested",
            {"amount": job.application.amount},
            job.application.amount,
            "the amount asked for",
        ),
        (
            "limit.product_max",
            {"product": product_name, "max_limit": product.max_limit},
            product.max_limit,
            f"product {product_name} lends at most {product.max_limit:,.0f}",
        ),
        (
            "limit.income_multiple",
            {"monthly_income": income, "income_multiple": product.income_multiple},
            income * product.income_multiple,
            f"{product.income_multiple:g} x monthly income {income:,.2f}",
        ),
        (
            "limit.dti_cap",
            {
                "dti_cap": rules.dti_cap,
                "monthly_income": income,
                "monthly_debt_payment": debt,
                "payment_room": round(room, 2),
                "rate": rate,
                "term_months": term,
            },
            round(affordable_principal(room, rate, term), 2),
            f"a payment of at most {max(room, 0):,.2f} keeps debt under {rules.dti_cap:.0%} "
            "of income",
        ),
        (
            "limit.tenant_max",
            {"max_limit": rules.max_limit},
            rules.max_limit,
            f"the bank lends at most {rules.max_limit:,.0f}",
        ),
    ]
    limit = min(value for _, _, value, _ in candidates)
    for rule, inputs, value, why in candidates:
        binding = " (binding)" if value == limit else ""
        trail.append(TrailStep(rule=rule, inputs=inputs, effect=why + binding, value=value))
    rounded = _round_down(max(limit, 0.0), rules.round_to)
    trail.append(
        TrailStep(
            rule="limit.round_down",
            inputs={"limit": limit, "unit": rules.round_to},
            effect=f"rounded down to a multiple of {rules.round_to:,}",
            value=rounded,
        )
    )
    return rounded


@worker("risk.pricing", retries=0)
def price_application(job: PricingInput) -> PricingOutput:
    """Credit limit, annual rate and monthly payment for a graded application, with a trail.

    Pure arithmetic over data, so never retried; a grade that is neither declined nor has a
    spread, or a product without rule and fallback, is a configuration error (an incident).
    """
    rules, grade = job.rules, job.grade
    trail: list[TrailStep] = []
    product_name, product = rules.product(job.application.product)
    term = min(job.application.term_months, product.max_term_months)
    trail.append(
        TrailStep(
            rule="product",
            inputs={
                "product": job.application.product,
                "term_months": job.application.term_months,
                "max_term_months": product.max_term_months,
            },
            effect=f"rule {product_name!r}; term {term} months",
            value=term,
        )
    )

    def declined(reason: str, rate: float | None) -> PricingOutput:
        return PricingOutput(
            approved=False,
            grade=grade,
            product=product_name,
            limit=0,
            rate=rate,
            term_months=term,
            monthly_payment=None,
            reasons=[reason],
            trail=trail,
        )

    if grade in rules.declined_grades:
        reason = f"grade {grade} is declined"
        trail.append(
            TrailStep(
                rule="grade.declined",
                inputs={"grade": grade, "declined_grades": rules.declined_grades},
                effect=reason,
            )
        )
        return declined(reason, None)
    if grade not in rules.grade_spread:
        raise WorkerError(
            f"pricing rules have no spread for grade {grade!r} and do not decline it",
            retryable=False,
        )
    rate = _rate(job, product, term, trail)
    limit = _limit(job, product_name, product, term, rate, trail)
    if limit < max(product.min_limit, 1):
        reason = f"limit {limit:,.0f} is below the product minimum {product.min_limit:,.0f}"
        trail.append(
            TrailStep(
                rule="limit.minimum",
                inputs={"limit": limit, "min_limit": product.min_limit},
                effect=reason,
                value=0,
            )
        )
        return declined(reason, rate)
    payment = installment(limit, rate, term)
    trail.append(
        TrailStep(
            rule="payment",
            inputs={"limit": limit, "rate": rate, "term_months": term},
            effect="equal monthly installment",
            value=payment,
        )
    )
    reasons = []
    if limit < job.application.amount:
        reasons.append(f"limit {limit:,.0f} is below the amount asked for")
    return PricingOutput(
        approved=True,
        grade=grade,
        product=product_name,
        limit=limit,
        rate=rate,
        term_months=term,
        monthly_payment=payment,
        reasons=reasons,
        trail=trail,
    )
