"""The disclosures an agent must read aloud, per tenant and product, in zh-CN and en.

Data, not code: :data:`DEFAULT_SCRIPTS` maps ``(tenant, product)`` to a script, with ``"*"``
as a wildcard; :func:`script_for` picks the most specific one (tenant and product, then the
product for every tenant, then the tenant's default, then the shared default). A deployment
with its own wording passes its own mapping to the service.

Disclosure ids are stable: the session log, the pages and the routes refer to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from loanflow.engine.errors import InvalidInput

__all__ = ["DEFAULT_SCRIPTS", "LOCALES", "Disclosure", "Script", "script_for"]

LOCALES = ("zh-CN", "en")


@dataclass(frozen=True)
class Disclosure:
    """One statement; ``text`` maps a locale to its wording."""

    id: str
    text: Mapping[str, str]

    def render(self, locale: str) -> str:
        return self.text.get(locale) or self.text["zh-CN"]


@dataclass(frozen=True)
class Script:
    """An ordered list of disclosures, identified (and versioned) by ``id``."""

    id: str
    disclosures: tuple[Disclosure, ...]

    def ids(self) -> list[str]:
        return [d.id for d in self.disclosures]

    def render(self, locale: str) -> list[dict[str, str]]:
        return [{"id": d.id, "text": d.render(locale)} for d in self.disclosures]


def _d(id_: str, zh: str, en: str) -> Disclosure:
    return Disclosure(id_, {"zh-CN": zh, "en": en})


_IDENTITY = _d(
    "identity",
    "请您出示本人身份证并确认：您是本次贷款的申请人本人，本次面签全程录音录像。",
    "Please show your ID card and confirm that you are the applicant in person; "
    "this signing is recorded in audio and video throughout.",
)
_VOLUNTARY = _d(
    "voluntary",
    "您本次申请贷款是出于本人真实意愿，没有受到任何人的胁迫或诱导。",
    "You apply for this loan of your own free will, without pressure or inducement.",
)
_TERMS = _d(
    "terms",
    "我已向您说明贷款金额、期限、利率、还款方式及逾期后果，您已阅读并理解合同条款。",
    "The amount, term, interest rate, repayment method and consequences of late payment "
    "have been explained to you, and you have read and understood the contract terms.",
)
_PURPOSE = _d(
    "purpose",
    "贷款资金将按合同约定用途使用，不得用于购房、证券投资等禁止用途。",
    "The loan will be used for the purpose agreed in the contract, not for buying housing, "
    "securities or any other forbidden use.",
)
_CREDIT = _d(
    "credit_report",
    "您同意本行查询并报送您的征信信息，按时还款将影响您的信用记录。",
    "You agree that the bank queries and reports your credit information; repayment "
    "behaviour affects your credit record.",
)
_GUARANTEE = _d(
    "guarantee",
    "担保人已知悉并同意承担连带保证责任。",
    "The guarantor knows of and accepts joint and several liability.",
)

DEFAULT_SCRIPTS: Mapping[tuple[str, str], Script] = {
    ("*", "*"): Script("default-v1", (_IDENTITY, _VOLUNTARY, _TERMS, _CREDIT)),
    ("*", "personal_loan"): Script(
        "personal-loan-v1", (_IDENTITY, _VOLUNTARY, _TERMS, _PURPOSE, _CREDIT)
    ),
    ("*", "farmer_guaranteed_loan"): Script(
        "farmer-guaranteed-v1", (_IDENTITY, _VOLUNTARY, _TERMS, _PURPOSE, _GUARANTEE, _CREDIT)
    ),
}


def script_for(
    tenant: str, product: str, scripts: Mapping[tuple[str, str], Script] = DEFAULT_SCRIPTS
) -> Script:
    """The most specific script for a tenant's product (InvalidInput when none is defined)."""
    for key in ((tenant, product), ("*", product), (tenant, "*"), ("*", "*")):
        if key in scripts:
            return scripts[key]
    raise InvalidInput(f"no disclosure script for product {product!r}", {"product": "unknown"})


def check_locale(locale: str) -> str:
    if locale not in LOCALES:
        raise InvalidInput(f"locale must be one of {', '.join(LOCALES)}", {"locale": locale})
    return locale
