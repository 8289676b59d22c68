"""The four outside sources of ``risk.external_data``: report models, protocols, adapters.

Each source sits behind a small protocol (:class:`CreditBureau`, :class:`TaxAuthority`,
:class:`BusinessRegistry`, :class:`CourtRecords`); an adapter implements all four.
:class:`SandboxAdapter` answers deterministically for the demo and tests;
:class:`HttpAdapter` asks a JSON data service (or a bank's gateway to one).

Adapter failures are ``WorkerError``: retryable when the service did not answer, timed out,
throttled (408, 429) or failed (5xx); not retryable on other 4xx or an answer that does not
fit the report model.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, Literal, Protocol, TypeVar

import httpx
from pydantic import BaseModel, Field, SecretStr, model_validator

from loanflow.engine.errors import WorkerError
from loanflow.workers.risk._hashing import HashStream, normalize_id_number, sha256_hex

__all__ = [
    "ALL_SOURCES",
    "DEFAULT_PATHS",
    "REPORT_MODELS",
    "SANDBOX_RESERVED",
    "BusinessRegistration",
    "BusinessRegistry",
    "CourtRecord",
    "CourtRecords",
    "CreditBureau",
    "CreditReport",
    "ExternalDataAdapter",
    "FiveTier",
    "HttpAdapter",
    "SandboxAdapter",
    "Source",
    "TaxAuthority",
    "TaxGrade",
    "TaxRecord",
]

Source = Literal["credit", "tax", "business", "court"]
ALL_SOURCES: tuple[Source, ...] = ("credit", "tax", "business", "court")
#: the five-tier loan classification (五级分类), best first
FiveTier = Literal["正常", "关注", "次级", "可疑", "损失"]
TaxGrade = Literal["A", "B", "C", "D", "M"]
BusinessStatus = Literal["存续", "吊销", "注销"]

_Count = Field(default=0, ge=0)
_Yuan = Field(default=0.0, ge=0, allow_inf_nan=False)


# -- reports ----------------------------------------------------------------------------


class CreditReport(BaseModel):
    """The parts of a personal credit report (征信报告) the scorecard and rules read."""

    report_no: str = Field(min_length=1, max_length=64)
    has_history: bool = Field(default=True, description="False for a thin file (白户).")
    overdue_current: int = Field(default=0, ge=0, description="Accounts overdue now.")
    overdue_6m: int = _Count
    overdue_12m: int = _Count
    overdue_24m: int = _Count
    max_overdue_days: int = _Count
    loans_outstanding: int = _Count
    loan_balance: float = _Yuan
    card_limit: float = _Yuan
    card_utilization: float = Field(default=0.0, ge=0, le=5, allow_inf_nan=False)
    inquiries_1m: int = Field(default=0, ge=0, description="Hard inquiries (loan/card approval).")
    inquiries_3m: int = _Count
    inquiries_6m: int = _Count
    guarantees_count: int = Field(default=0, ge=0, description="Guarantees given for others.")
    guarantee_balance: float = _Yuan
    worst_status: FiveTier = "正常"

    @model_validator(mode="after")
    def _windows_nest(self) -> CreditReport:
        if not self.overdue_6m <= self.overdue_12m <= self.overdue_24m:
            raise ValueError("overdue counts must grow with the window (6m <= 12m <= 24m)")
        if not self.inquiries_1m <= self.inquiries_3m <= self.inquiries_6m:
            raise ValueError("inquiry counts must grow with the window (1m <= 3m <= 6m)")
        return self


class TaxRecord(BaseModel):
    """Tax credit grade (纳税信用等级) and the latest year's figures."""

    registered: bool = Field(default=True, description="False when not a known taxpayer.")
    grade: TaxGrade | None = None
    annual_taxable_revenue: float = _Yuan
    arrears: float = Field(default=0.0, ge=0, allow_inf_nan=False, description="欠税, yuan.")


class BusinessRegistration(BaseModel):
    """The business registry's record (工商登记) and whether the legal rep is the applicant."""

    registered_name: str = Field(min_length=1, max_length=200)
    status: BusinessStatus
    established_on: date
    registered_capital: float = _Yuan
    legal_rep_matches: bool = Field(description="Legal representative is the applicant.")


class CourtRecord(BaseModel):
    """Court enforcement records (执行信息公开)."""

    executed_person: bool = Field(default=False, description="被执行人.")
    dishonest_debtor: bool = Field(default=False, description="失信被执行人.")
    open_cases: int = _Count
    executed_amount: float = _Yuan


REPORT_MODELS: dict[Source, type[BaseModel]] = {
    "credit": CreditReport,
    "tax": TaxRecord,
    "business": BusinessRegistration,
    "court": CourtRecord,
}

# -- protocols --------------------------------------------------------------------------


class CreditBureau(Protocol):
    def credit_report(self, id_number: str, name: str) -> CreditReport: ...


class TaxAuthority(Protocol):
    def tax_record(self, taxpayer_id: str, name: str) -> TaxRecord:
        """``taxpayer_id``: a unified social credit code, or an ID number for a person."""
        ...


class BusinessRegistry(Protocol):
    def registration(self, credit_code: str, legal_rep_name: str) -> BusinessRegistration: ...


class CourtRecords(Protocol):
    def cases(self, id_number: str, name: str) -> CourtRecord: ...


class ExternalDataAdapter(CreditBureau, TaxAuthority, BusinessRegistry, CourtRecords, Protocol):
    """All four sources from one provider."""


# -- sandbox ----------------------------------------------------------------------------

#: subjects whose sandbox answers are fixed, to demo and test the bad paths
SANDBOX_RESERVED: dict[str, str] = {
    "000000199001010010": "every source bad: credit 损失 with 2 accounts overdue now, "
    "tax grade D with arrears, court 失信 and 被执行人 with 3 open cases",
    "000000199001010029": "every source clean: spotless credit history, tax grade A",
    "000000199001010037": "thin file: no credit history (白户), not a registered taxpayer",
    "91000000MA00000001": "business 吊销, tax grade D with arrears, legal rep does not match",
    "91000000MA00000002": "business 存续 since 2010, tax grade A, legal rep matches",
}
_BAD, _CLEAN, _THIN = "000000199001010010", "000000199001010029", "000000199001010037"
_BAD_CODE, _CLEAN_CODE = "91000000MA00000001", "91000000MA00000002"
# fmt: off
_FIXED: dict[tuple[str, str], dict[str, Any]] = {
    ("credit", _BAD): {
        "overdue_current": 2, "overdue_6m": 6, "overdue_12m": 11, "overdue_24m": 17,
        "max_overdue_days": 420, "loans_outstanding": 5, "loan_balance": 386_000,
        "card_limit": 60_000, "card_utilization": 1.12, "inquiries_1m": 4, "inquiries_3m": 9,
        "inquiries_6m": 14, "guarantees_count": 2, "guarantee_balance": 200_000,
        "worst_status": "损失",
    },
    ("credit", _CLEAN): {"loans_outstanding": 1, "loan_balance": 80_000, "card_limit": 50_000,
                         "card_utilization": 0.12, "inquiries_6m": 1},
    ("credit", _THIN): {"has_history": False},
    ("tax", _BAD): {"grade": "D", "annual_taxable_revenue": 420_000, "arrears": 36_500},
    ("tax", _CLEAN): {"grade": "A", "annual_taxable_revenue": 2_800_000},
    ("tax", _THIN): {"registered": False},
    ("business", _BAD_CODE): {"registered_name": "青山农资经营部", "status": "吊销",
                              "established_on": "2016-05-20", "registered_capital": 100_000,
                              "legal_rep_matches": False},
    ("business", _CLEAN_CODE): {"registered_name": "河口粮油有限公司", "status": "存续",
                                "established_on": "2010-03-18", "registered_capital": 3_000_000,
                                "legal_rep_matches": True},
    ("court", _BAD): {"executed_person": True, "dishonest_debtor": True, "open_cases": 3,
                      "executed_amount": 158_000},
    ("court", _CLEAN): {},
    ("court", _THIN): {},
}
# fmt: on
_FIXED[("tax", _BAD_CODE)] = _FIXED[("tax", _BAD)]
_FIXED[("tax", _CLEAN_CODE)] = _FIXED[("tax", _CLEAN)]
_EPOCH = date(2026, 1, 1)  # sandbox answers must not depend on today
_M = TypeVar("_M", bound=BaseModel)


_TIERS: tuple[tuple[int, FiveTier], ...] = ((0, "正常"), (90, "关注"), (180, "次级"), (360, "可疑"))


def _five_tier(days_overdue: int) -> FiveTier:
    """The usual mapping of days overdue to the five tiers."""
    return next((tier for limit, tier in _TIERS if days_overdue <= limit), "损失")


class SandboxAdapter:
    """Plausible, deterministic answers: the same subject always gets the same report.

    ``seed`` changes every answer at once; :data:`SANDBOX_RESERVED` lists fixed subjects.
    """

    def __init__(self, seed: str = "loanflow-sandbox") -> None:
        self._seed = seed.encode()

    def _dice(self, source: str, subject: str) -> HashStream:
        return HashStream(self._seed, f"{source}:{subject}")

    @staticmethod
    def _fixed(source: str, subject: str, model: type[_M], **extra: Any) -> _M | None:
        fixed = _FIXED.get((source, subject))
        return None if fixed is None else model.model_validate({**extra, **fixed})

    def credit_report(self, id_number: str, name: str) -> CreditReport:
        subject = normalize_id_number(id_number)
        number = "SBX" + sha256_hex(f"credit:{subject}")[:17].upper()
        if fixed := self._fixed("credit", subject, CreditReport, report_no=number):
            return fixed
        d = self._dice("credit", subject)
        if d.chance(0.08):
            return CreditReport(report_no=number, has_history=False)
        o24 = 0 if d.chance(0.7) else d.pick({1: 4, 2: 3, 3: 2, d.integer(4, 12): 1})
        o12 = d.integer(0, o24)
        o6 = d.integer(0, o12)
        current = d.pick({0: 0.7, 1: 0.25, 2: 0.05}) if o6 else 0
        most = 0
        if o24:
            most = d.pick({d.integer(1, 30): 75, d.integer(31, 90): 18, d.integer(91, 400): 7})
        worst = _five_tier(most) if current else ("关注" if d.chance(0.02) else "正常")
        loans = d.pick({0: 25, 1: 35, 2: 25, 3: 10, d.integer(4, 8): 5})
        cards = 0.0 if d.chance(0.3) else d.pick({10_000.0: 3, 30_000.0: 3, 80_000.0: 2})
        i6 = d.pick({0: 35, 1: 25, 2: 18, 3: 10, d.integer(4, 12): 12})
        i3 = d.integer(0, i6)
        guarantees = 0 if d.chance(0.85) else d.integer(1, 3)
        return CreditReport(
            report_no=number,
            overdue_current=current,
            overdue_6m=o6,
            overdue_12m=o12,
            overdue_24m=o24,
            max_overdue_days=most,
            loans_outstanding=loans,
            loan_balance=round(min(d.lognormal(120_000, 0.9) * loans, 3e6), 2),
            card_limit=cards,
            card_utilization=round(d.random() ** 1.6 * 1.15, 3) if cards else 0.0,
            inquiries_1m=d.integer(0, i3),
            inquiries_3m=i3,
            inquiries_6m=i6,
            guarantees_count=guarantees,
            guarantee_balance=d.lognormal(100_000, 0.8) if guarantees else 0.0,
            worst_status=worst,
        )

    def tax_record(self, taxpayer_id: str, name: str) -> TaxRecord:
        subject = normalize_id_number(taxpayer_id)
        if fixed := self._fixed("tax", subject, TaxRecord):
            return fixed
        d = self._dice("tax", subject)
        if subject[:17].isdigit() and d.chance(0.4):
            return TaxRecord(registered=False)  # a person who files no business taxes
        grade: TaxGrade = d.pick({"A": 25, "B": 45, "C": 12, "D": 5, "M": 13})
        owed = {"C": 0.3, "D": 0.7}.get(grade, 0.0)
        return TaxRecord(
            grade=grade,
            annual_taxable_revenue=d.lognormal(300_000 if grade == "M" else 1_200_000, 1.1),
            arrears=d.lognormal(30_000, 1.0) if d.chance(owed) else 0.0,
        )

    def registration(self, credit_code: str, legal_rep_name: str) -> BusinessRegistration:
        code = credit_code.strip().upper()
        if fixed := self._fixed("business", code, BusinessRegistration):
            return fixed
        d = self._dice("business", code)
        town = d.pick(dict.fromkeys(("青山", "河口", "柳林", "石桥", "南岗", "东湖"), 1.0))
        trade = d.pick(dict.fromkeys(("农资", "养殖", "商贸", "建材", "粮油", "农机"), 1.0))
        form = d.pick({"经营部": 3.0, "有限公司": 5.0, "专业合作社": 2.0})
        capital = d.pick({50_000.0: 2, 100_000.0: 3, 500_000.0: 3, 1e6: 3, 5e6: 1})
        return BusinessRegistration(
            registered_name=f"{town}{trade}{form}",
            status=d.pick({"存续": 92.0, "吊销": 5.0, "注销": 3.0}),
            established_on=_EPOCH - timedelta(days=d.integer(120, 25 * 365)),
            registered_capital=capital,
            legal_rep_matches=self._dice("rep", f"{code}|{legal_rep_name.strip()}").chance(0.95),
        )

    def cases(self, id_number: str, name: str) -> CourtRecord:
        subject = normalize_id_number(id_number)
        if fixed := self._fixed("court", subject, CourtRecord):
            return fixed
        d = self._dice("court", subject)
        if not d.chance(0.12):
            return CourtRecord()
        executed = d.chance(0.35)
        return CourtRecord(
            executed_person=executed,
            dishonest_debtor=executed and d.chance(0.35),
            open_cases=d.integer(1, 3),
            executed_amount=d.lognormal(40_000, 1.0) if executed else 0.0,
        )


# -- HTTP -------------------------------------------------------------------------------

DEFAULT_PATHS: dict[Source, str] = {
    "credit": "/credit/report",
    "tax": "/tax/record",
    "business": "/business/registration",
    "court": "/court/cases",
}


class HttpAdapter:
    """A JSON data service: ``POST base_url + path`` with the subject in the body.

    The subject goes in the body, never the URL, so it stays out of access logs. The
    answer is the report object itself, validated into the report model.
    """

    def __init__(
        self,
        base_url: str,
        token: SecretStr | None = None,
        *,
        timeout: float = 10.0,
        paths: Mapping[Source, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        self._paths = {**DEFAULT_PATHS, **(paths or {})}
        self._client = httpx.Client(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def _post(self, source: Source, body: dict[str, str], model: type[_M]) -> _M:
        try:
            response = self._client.post(self._paths[source], json=body)
        except httpx.HTTPError as exc:
            raise WorkerError(
                f"{source} data service did not answer: {type(exc).__name__}: {exc}"
            ) from None
        status = response.status_code
        if status >= 400:
            retryable = status >= 500 or status in (408, 429)
            raise WorkerError(f"{source} data service answered HTTP {status}", retryable=retryable)
        try:
            return model.model_validate(response.json())
        except ValueError:  # not JSON, or a ValidationError; values may be personal data
            raise WorkerError(
                f"{source} data service answered with data that does not fit {model.__name__}",
                retryable=False,
            ) from None

    def credit_report(self, id_number: str, name: str) -> CreditReport:
        return self._post("credit", {"id_number": id_number, "name": name}, CreditReport)

    def tax_record(self, taxpayer_id: str, name: str) -> TaxRecord:
        return self._post("tax", {"taxpayer_id": taxpayer_id, "name": name}, TaxRecord)

    def registration(self, credit_code: str, legal_rep_name: str) -> BusinessRegistration:
        body = {"credit_code": credit_code, "legal_rep_name": legal_rep_name}
        return self._post("business", body, BusinessRegistration)

    def cases(self, id_number: str, name: str) -> CourtRecord:
        return self._post("court", {"id_number": id_number, "name": name}, CourtRecord)
