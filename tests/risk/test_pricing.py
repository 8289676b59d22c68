"""risk.pricing: every limit rule, rate adjustments and clamps, declines, and the trail."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from loanflow.engine.errors import WorkerError
from loanflow.workers.risk._models import Application
from loanflow.workers.risk._pricing import (
    PricingInput,
    PricingOutput,
    PricingRules,
    ProductRule,
    affordable_principal,
    installment,
    price_application,
)
from loanflow.workers.sdk import definition_of, run_worker

LIMIT_RULES = [
    "limit.requested",
    "limit.product_max",
    "limit.income_multiple",
    "limit.dti_cap",
    "limit.tenant_max",
]


def application(
    amount: float = 20_000,
    income: float = 20_000,
    debt: float = 0,
    term: int = 12,
    product: str = "*",
    **extra: Any,
) -> Application:
    return Application.model_validate(
        {
            "id": "APP-1",
            "product": product,
            "amount": amount,
            "term_months": term,
            "applicant": {
                "name": "李四",
                "id_number": "420802198503140021",
                "monthly_income": income,
                "monthly_debt_payment": debt,
            },
            **extra,
        }
    )


def price(app: Application, grade: str = "B", **rules: Any) -> PricingOutput:
    return price_application(
        PricingInput(application=app, grade=grade, rules=PricingRules(**rules))
    )


def step(out: PricingOutput, rule: str) -> Any:
    (found,) = [s for s in out.trail if s.rule == rule]
    return found


def binding(out: PricingOutput) -> list[str]:
    return [s.rule for s in out.trail if s.effect.endswith("(binding)")]


def test_the_amount_asked_for_binds_and_the_trail_is_complete() -> None:
    out = price(application())
    assert out.approved
    assert (out.limit, out.rate, out.term_months) == (20_000, 0.043, 12)
    assert out.monthly_payment == installment(20_000, 0.043, 12) == 1705.74
    assert out.reasons == []
    assert [s.rule for s in out.trail] == [
        "product",
        "rate.base",
        "rate.grade_spread",
        "rate.clamp",
        *LIMIT_RULES,
        "limit.round_down",
        "payment",
    ]
    assert binding(out) == ["limit.requested"]
    assert all(s.effect and s.inputs for s in out.trail)
    candidates = [step(out, r).value for r in LIMIT_RULES]
    assert step(out, "limit.round_down").inputs["limit"] == min(candidates)
    assert step(out, "rate.grade_spread").inputs == {"grade": "B", "spread": 0.012}
    assert step(out, "payment").value == out.monthly_payment


def test_income_multiple_binds() -> None:
    out = price(application(amount=200_000, income=5_000, term=36, product="agri"), dti_cap=1.0)
    assert binding(out) == ["limit.income_multiple"]
    assert out.limit == 150_000  # 30 x 5,000
    assert step(out, "limit.income_multiple").inputs == {
        "monthly_income": 5_000,
        "income_multiple": 30,
    }
    assert out.reasons == ["limit 150,000 is below the amount asked for"]


def test_dti_cap_binds_and_keeps_the_ratio_under_the_cap() -> None:
    out = price(application(amount=150_000, income=6_000, debt=600, term=24))
    assert binding(out) == ["limit.dti_cap"]
    dti = step(out, "limit.dti_cap")
    assert dti.inputs["payment_room"] == 2_700
    expected = affordable_principal(2_700, out.rate or 0, 24)
    assert dti.value == pytest.approx(expected, abs=0.01)
    assert out.limit == math.floor(expected / 1000) * 1000
    assert out.monthly_payment is not None
    assert (out.monthly_payment + 600) / 6_000 <= 0.55


def test_no_room_under_the_dti_cap_declines_below_the_product_minimum() -> None:
    out = price(application(income=6_000, debt=4_000))
    assert not out.approved
    assert out.limit == 0
    assert step(out, "limit.dti_cap").value == 0
    assert out.reasons == ["limit 0 is below the product minimum 1,000"]
    assert out.trail[-1].rule == "limit.minimum"
    assert out.monthly_payment is None


def test_product_and_tenant_maximums_bind() -> None:
    consumer = price(application(amount=300_000, income=100_000, product="consumer"))
    assert binding(consumer) == ["limit.product_max"]
    assert consumer.limit == 200_000
    bank = price(application(amount=900_000, income=100_000, product="business", term=24))
    assert binding(bank) == ["limit.tenant_max"]
    assert bank.limit == 500_000
    assert bank.product == "business"


def test_unknown_product_falls_back_to_star_and_term_is_capped() -> None:
    out = price(application(product="tea_garden", term=60))
    assert out.product == "*"
    assert out.term_months == 36
    assert step(out, "product").inputs == {
        "product": "tea_garden",
        "term_months": 60,
        "max_term_months": 36,
    }


def test_limit_is_rounded_down_to_whole_thousands() -> None:
    out = price(application(amount=123_999.99))
    assert step(out, "limit.round_down").inputs["limit"] == 123_999.99
    assert out.limit == 123_000
    assert price(application(amount=5_000), round_to=10_000).approved is False


def test_long_term_and_secured_adjust_the_rate() -> None:
    long = price(application(amount=100_000, income=50_000, term=48, product="business"))
    assert step(long, "rate.long_term").inputs == {"term_months": 48, "over": 36, "add": 0.005}
    assert long.rate == pytest.approx(0.031 + 0.012 + 0.005)
    secured = price(application(secured=True))
    assert secured.rate == pytest.approx(0.043 - 0.003)
    assert step(secured, "rate.secured").inputs == {"secured": True, "discount": 0.003}


def test_rate_is_clamped_to_the_floor_and_to_max_rate() -> None:
    floor = price(application(secured=True), grade="A", grade_spread={"A": 0.0})
    assert floor.rate == 0.031  # base 0.031 - 0.003, raised to the LPR
    assert step(floor, "rate.clamp").effect == "raised to the floor 0.0310"
    product_floor = price(
        application(product="x"),
        products={"x": ProductRule(max_limit=50_000, max_term_months=12, income_multiple=5,
                                   rate_floor=0.06)},
    )  # fmt: skip
    assert product_floor.rate == 0.06
    cap = price(application(), grade="D", grade_spread={"D": 0.2})
    assert cap.rate == 0.12
    assert step(cap, "rate.clamp").effect == "capped at max_rate 0.1200"


def test_declined_grade_is_not_approved_with_a_reason() -> None:
    out = price(application(), grade="E")
    assert not out.approved
    assert (out.limit, out.rate, out.monthly_payment) == (0, None, None)
    assert out.reasons == ["grade E is declined"]
    assert [s.rule for s in out.trail] == ["product", "grade.declined"]


def test_configuration_errors_are_not_retried() -> None:
    with pytest.raises(WorkerError, match="no spread for grade 'Z'") as error:
        price(application(), grade="Z")
    assert not error.value.retryable
    only_agri = {
        "agri": ProductRule(max_limit=1, min_limit=0, max_term_months=1, income_multiple=1)
    }
    with pytest.raises(WorkerError, match="no product 'consumer'"):
        price(application(product="consumer"), products=only_agri)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"max_rate": 0.18}, "exceeds 4 x base_rate"),
        ({"rate_floor": 0.13}, "above max_rate"),
        ({"grade_spread": {"A": -0.01}}, "grade spreads"),
        ({"products": {}}, "at least 1"),
    ],
)
def test_rules_are_validated(rules: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PricingRules(**rules)


def test_max_rate_up_to_four_times_lpr_is_allowed() -> None:
    assert PricingRules(base_rate=0.045, max_rate=0.18).max_rate == 0.18
    with pytest.raises(ValidationError, match="min_limit"):
        ProductRule(max_limit=1_000, min_limit=2_000, max_term_months=12, income_multiple=1)


def test_payment_math() -> None:
    assert installment(100_000, 0.0435, 12) == 8530.99  # as calc.repayment_schedule
    assert installment(120_000, 0, 12) == 10_000
    assert affordable_principal(10_000, 0, 12) == 120_000
    assert affordable_principal(-1, 0.05, 12) == 0
    principal = affordable_principal(installment(100_000, 0.0435, 24), 0.0435, 24)
    assert principal == pytest.approx(100_000, abs=0.5)


def test_worker_declaration_and_json_round_trip() -> None:
    defn = definition_of(price_application)
    assert (defn.topic, defn.retries) == ("risk.pricing", 0)
    out = run_worker(defn, {"application": application().model_dump(mode="json"), "grade": "A"})
    assert out["approved"] is True
    assert out["trail"][0]["rule"] == "product"
