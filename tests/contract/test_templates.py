"""Templates as data: placeholders checked up front, resolution per tenant and product."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from loanflow.workers.contract import (
    BUILTIN_TEMPLATES,
    DEFAULT_TEMPLATE,
    PLACEHOLDERS,
    ContractTemplate,
    TemplateCatalog,
)


def _template(**overrides: object) -> ContractTemplate:
    data: dict[str, object] = {
        "id": "enshi_farm",
        "title": "农户小额信用借款合同",
        "clauses": [{"heading": "借款金额", "text": "人民币${amount_capitals}。"}],
    }
    data.update(overrides)
    return ContractTemplate.model_validate(data)


def test_a_template_round_trips_through_json() -> None:
    template = _template(purpose="购买农资", preamble="甲方${lender}与乙方${borrower}订立本合同。")
    again = ContractTemplate.model_validate(json.loads(template.model_dump_json()))
    assert again == template


def test_every_builtin_clause_uses_only_known_placeholders() -> None:
    for template in BUILTIN_TEMPLATES.values():
        assert template.clauses
        values = dict.fromkeys(PLACEHOLDERS, "x")
        for clause in template.clauses:
            assert "$" not in template.fill(clause.text, values)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"clauses": [{"heading": "金额", "text": "${amount_in_words}"}]}, "amount_in_words"),
        ({"preamble": "${lender.__class__}"}, "placeholder"),
        ({"clauses": [{"heading": "费用", "text": "手续费 $5"}]}, "placeholder"),
        ({"purpose": "${borrower}"}, "purpose"),
        ({"clauses": []}, "clauses"),
        ({"id": "Bad Id"}, "id"),
        ({"clauses": [{"heading": "x", "text": "y", "when": "sometimes"}]}, "when"),
    ],
)
def test_broken_templates_are_refused_when_built(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _template(**overrides)


def test_a_dollar_sign_can_be_written_doubled() -> None:
    template = _template(clauses=[{"heading": "费用", "text": "手续费 $$5"}])
    assert template.fill(template.clauses[0].text, {}) == "手续费 $5"


def test_resolution_prefers_the_tenants_own_then_shared_then_default() -> None:
    catalog = TemplateCatalog()
    own = _template(id="enshi_business")
    tenant_default = _template(id="enshi_default")
    catalog.register(own, tenant="enshi", product="business_loan")
    catalog.register(tenant_default, tenant="enshi")

    assert catalog.resolve("enshi", "business_loan") is own
    assert catalog.resolve("lichuan", "business_loan") is BUILTIN_TEMPLATES["business_loan"]
    assert catalog.resolve("enshi", "personal_loan") is BUILTIN_TEMPLATES["personal_loan"]
    assert catalog.resolve("enshi", "car_loan") is tenant_default
    assert catalog.resolve("lichuan", "car_loan") is DEFAULT_TEMPLATE


def test_a_catalog_without_builtins() -> None:
    only = _template()
    catalog = TemplateCatalog({"farm": only})
    assert catalog.resolve("enshi", "farm") is only
    assert catalog.resolve("enshi", "personal_loan") is DEFAULT_TEMPLATE
