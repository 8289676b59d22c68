"""Contract templates as data: the clause texts of a product, per tenant.

A template is a title, a preamble and numbered clauses whose texts may name the values
of the contract as ``${placeholder}`` (``string.Template``: no attribute access, no
code). Every placeholder is checked when the template is built, so a typo fails when a
bank registers its template, not when a borrower signs. A clause with
``when="guarantors"`` appears only in contracts that have guarantors or co-borrowers.

:class:`TemplateCatalog` finds the template of a contract: the tenant's own for the
product, else the shared one for the product, else the tenant's default, else
:data:`DEFAULT_TEMPLATE`. Templates come as dicts (JSON), e.g. from a tenant's settings::

    catalog.register(ContractTemplate.model_validate(json.loads(text)), tenant="enshi")
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loanflow.workers.contract._errors import RenderError

__all__ = [
    "BUILTIN_TEMPLATES",
    "DEFAULT_TEMPLATE",
    "PLACEHOLDERS",
    "Clause",
    "ContractTemplate",
    "TemplateCatalog",
]

PLACEHOLDERS: Mapping[str, str] = {
    "lender": "贷款人（甲方）名称",
    "borrower": "借款人（乙方）姓名",
    "guarantors": "保证人、共同借款人姓名，以顿号分隔",
    "contract_number": "合同编号",
    "product": "产品代码",
    "amount_figures": "金额小写，如 ¥100,000.00",
    "amount_capitals": "金额大写，如 壹拾万元整",
    "purpose": "借款用途",
    "months": "期限（月）",
    "start_date": "起始日，如 2026年1月5日",
    "end_date": "到期日",
    "rate_percent": "年利率，如 4.35%",
    "method_name": "还款方式，如 等额本息",
    "signing_city": "签订地点",
    "signing_date": "签订日期",
}
"""The values a clause text may use, with what each holds."""


class Clause(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    heading: str = Field(min_length=1, max_length=40)
    text: str = Field(min_length=1, max_length=4000)
    when: Literal["always", "guarantors"] = "always"


class ContractTemplate(BaseModel):
    """One product's contract text. Build it from a dict with ``model_validate``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")
    version: int = Field(default=1, ge=1)
    title: str = Field(min_length=1, max_length=60)
    preamble: str = Field(default="", max_length=4000)
    purpose: str = Field(default="个人消费", min_length=1, max_length=200)
    clauses: tuple[Clause, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _placeholders_known(self) -> ContractTemplate:
        texts = {"preamble": self.preamble, "purpose": self.purpose}
        texts.update({f"clauses[{i}]": c.text for i, c in enumerate(self.clauses)})
        for where, text in texts.items():
            template = string.Template(text)
            if not template.is_valid():
                raise ValueError(f"{where}: a '$' that is not a ${{placeholder}}")
            unknown = set(template.get_identifiers()) - set(PLACEHOLDERS)
            if where == "purpose" and template.get_identifiers():
                raise ValueError("purpose: may not use placeholders")
            if unknown:
                raise ValueError(
                    f"{where}: unknown placeholder(s) {', '.join(sorted(unknown))}; "
                    f"known: {', '.join(PLACEHOLDERS)}"
                )
        return self

    def fill(self, text: str, values: Mapping[str, str]) -> str:
        """``text`` with its placeholders replaced; every placeholder must be in ``values``."""
        try:
            return string.Template(text).substitute(values)
        except (KeyError, ValueError) as exc:
            raise RenderError(f"template {self.id!r}: cannot fill {text[:40]!r}: {exc}") from exc


_COMMON_CLAUSES = (
    Clause(
        heading="借款金额",
        text="乙方向甲方借款人民币（大写）${amount_capitals}（小写：${amount_figures}）。",
    ),
    Clause(
        heading="借款用途",
        text="本合同项下借款用于${purpose}。未经甲方书面同意，乙方不得改变借款用途，"
        "不得将借款用于购房、证券、期货、理财等投资，或国家禁止生产、经营的领域。",
    ),
    Clause(
        heading="借款期限",
        text="借款期限为${months}个月，自${start_date}起至${end_date}止。"
        "实际放款日与上述起始日不一致的，以借款凭证记载的日期为准。",
    ),
    Clause(
        heading="借款利率",
        text="本合同项下借款执行固定年利率${rate_percent}（单利），按月计息，借款期限内不作调整。",
    ),
    Clause(
        heading="还款方式",
        text="乙方按${method_name}方式按月归还借款本息，每期还款日为起始日在当月的对应日"
        "（当月无对应日的为当月最后一日），各期应还金额见本合同附件《还款计划表》。",
    ),
    Clause(
        heading="逾期与罚息",
        text="乙方未按约定归还借款本息的，甲方有权对逾期本金自逾期之日起按本合同利率"
        "加收百分之五十计收罚息，对不能按时支付的利息按罚息利率计收复利。",
    ),
    Clause(
        heading="提前还款",
        text="乙方提前归还部分或全部借款的，应提前十个工作日书面通知甲方，"
        "已计收的利息不予退还，提前归还后的还款计划由甲方重新计算。",
    ),
    Clause(
        heading="双方的权利和义务",
        text="乙方应如实提供甲方要求的资料，按约定用途使用借款，配合甲方对借款使用情况的"
        "检查；甲方应按约定发放借款，并依法保护乙方的个人信息。",
    ),
    Clause(
        heading="保证担保",
        text="${guarantors}自愿为乙方在本合同项下的全部债务提供连带责任保证，保证范围包括"
        "借款本金、利息、罚息、复利及实现债权的费用，保证期间为主债务履行期限届满之日起三年。",
        when="guarantors",
    ),
    Clause(
        heading="争议解决",
        text="因本合同引起的或与本合同有关的争议，由各方协商解决；协商不成的，"
        "任何一方可依法向甲方住所地有管辖权的人民法院提起诉讼。",
    ),
    Clause(
        heading="电子签名与生效",
        text="本合同以数据电文形式订立，各方使用可靠的电子签名签署，与手写签名或者盖章具有"
        "同等的法律效力。本合同自乙方签名并经甲方加盖电子合同专用章之日起生效。"
        "合同编号：${contract_number}。",
    ),
)

DEFAULT_TEMPLATE = ContractTemplate(
    id="personal_loan",
    title="个人借款合同",
    preamble="根据《中华人民共和国民法典》《个人贷款管理暂行办法》等法律法规，甲、乙双方"
    "（及保证人）经平等协商一致，订立本合同，以资共同遵守。",
    purpose="个人消费",
    clauses=_COMMON_CLAUSES,
)
"""The contract of a personal consumer loan, used when nothing more specific exists."""

BUILTIN_TEMPLATES: Mapping[str, ContractTemplate] = {
    "personal_loan": DEFAULT_TEMPLATE,
    "business_loan": DEFAULT_TEMPLATE.model_copy(
        update={
            "id": "business_loan",
            "title": "个人经营性借款合同",
            "purpose": "生产经营周转",
        }
    ),
}
"""Shared templates by product code."""


class TemplateCatalog:
    """Templates by (tenant, product); ``None`` stands for "any"."""

    def __init__(self, templates: Mapping[str, ContractTemplate] | None = None) -> None:
        self._by_key: dict[tuple[str | None, str | None], ContractTemplate] = {}
        for product, template in (BUILTIN_TEMPLATES if templates is None else templates).items():
            self.register(template, product=product)

    def register(
        self, template: ContractTemplate, *, tenant: str | None = None, product: str | None = None
    ) -> None:
        """Use ``template`` for ``tenant``'s ``product`` (either ``None``: all of them)."""
        self._by_key[(tenant, product)] = template

    def resolve(self, tenant: str, product: str) -> ContractTemplate:
        for key in ((tenant, product), (None, product), (tenant, None), (None, None)):
            found = self._by_key.get(key)
            if found is not None:
                return found
        return DEFAULT_TEMPLATE
