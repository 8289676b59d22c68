"""Points-based scorecards as data, with a champion and an optional challenger.

A :class:`Scorecard` adds ``base_points`` and, per characteristic, the points of the bin its
value falls in (or ``missing_points`` when the value is absent or fits no bin), then maps the
score to a grade and its probability of default. Characteristics read dotted paths from the
context ``{"application": ..., "external": ..., "antifraud": ..., "derived": ...}``; ``derived``
holds what the scorer computes itself (see :func:`scoring_context`): ``age``, ``dti`` and
``years_in_business``.

The challenger scores the share of applications whose ``sha256(application.id +
challenger.name)`` falls below ``challenger_share``: deterministic, so a re-run agrees and a
new challenger draws a fresh sample. Only the champion decides.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loanflow.engine.errors import WorkerError
from loanflow.workers.risk._models import Application
from loanflow.workers.sdk import worker

__all__ = [
    "DEFAULT_SCORECARD",
    "Bin",
    "Characteristic",
    "CharacteristicResult",
    "Grade",
    "ScoreResult",
    "Scorecard",
    "ScorecardInput",
    "ScorecardOutput",
    "ScorecardSettings",
    "default_scorecard_settings",
    "in_challenger_sample",
    "score_application",
    "score_with",
    "scoring_context",
]

Scalar = str | int | float | bool
_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
_PATH = r"^(application|external|antifraud|derived)(\.[A-Za-z0-9_]+)+$"


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


class Bin(BaseModel):
    """A numeric range (``lower``/``upper``, open when absent) or a list of ``values``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lower: float | None = Field(default=None, allow_inf_nan=False)
    upper: float | None = Field(default=None, allow_inf_nan=False)
    lower_inclusive: bool = True
    upper_inclusive: bool = False
    values: list[Scalar] | None = Field(default=None, min_length=1)
    points: float = Field(allow_inf_nan=False)
    reason_code: str | None = Field(default=None, max_length=32)

    @model_validator(mode="after")
    def _shape(self) -> Self:
        ranged = self.lower is not None or self.upper is not None
        if self.values is not None and ranged:
            raise ValueError("a bin has either values or lower/upper bounds, not both")
        if self.lower is not None and self.upper is not None:
            if self.lower > self.upper:
                raise ValueError(f"bin {self.label}: lower is above upper")
            if self.lower == self.upper and not (self.lower_inclusive and self.upper_inclusive):
                raise ValueError(f"bin {self.label} is empty")
        return self

    @property
    def label(self) -> str:
        """``[18, 25)``, ``[60, +inf)`` or ``{A, B}``, as a reviewer reads it."""
        if self.values is not None:
            return "{" + ", ".join(_show(v) for v in self.values) + "}"
        low = "-inf" if self.lower is None else _show(self.lower)
        high = "+inf" if self.upper is None else _show(self.upper)
        left = "[" if self.lower is not None and self.lower_inclusive else "("
        right = "]" if self.upper is not None and self.upper_inclusive else ")"
        return f"{left}{low}, {high}{right}"

    def matches(self, value: object) -> bool:
        if self.values is not None:
            # bool is an int in Python: True must not match 1
            return any(type(v) is type(value) and v == value for v in self.values) or (
                _number(value) is not None
                and any(_number(v) == _number(value) for v in self.values)
            )
        number = _number(value)
        if number is None:
            return False
        return self._above_lower(number) and self._below_upper(number)

    def _above_lower(self, x: float) -> bool:
        if self.lower is None:
            return True
        return x >= self.lower if self.lower_inclusive else x > self.lower

    def _below_upper(self, x: float) -> bool:
        if self.upper is None:
            return True
        return x <= self.upper if self.upper_inclusive else x < self.upper


def _show(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def _ranges_overlap(a: Bin, b: Bin) -> bool:
    lows = [(-math.inf if x.lower is None else x.lower, x.lower_inclusive) for x in (a, b)]
    highs = [(math.inf if x.upper is None else x.upper, x.upper_inclusive) for x in (a, b)]
    low = max(v for v, _ in lows)
    high = min(v for v, _ in highs)
    if low < high:
        return True
    # touching at one point: both bins must contain it
    return (
        low == high
        and all(inc for v, inc in lows if v == low)
        and all(inc for v, inc in highs if v == high)
    )


def _overlap(a: Bin, b: Bin) -> bool:
    if a.values is not None:
        return any(b.matches(v) for v in a.values)
    if b.values is not None:
        return any(a.matches(v) for v in b.values)
    return _ranges_overlap(a, b)


class Characteristic(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_NAME)
    label: str = Field(default="", max_length=100)
    variable: str = Field(
        pattern=_PATH, description="Dotted path into application/external/antifraud/derived."
    )
    bins: list[Bin] = Field(min_length=1)
    missing_points: float = Field(default=0, allow_inf_nan=False)
    missing_reason_code: str | None = Field(default=None, max_length=32)

    @model_validator(mode="after")
    def _disjoint(self) -> Self:
        for i, first in enumerate(self.bins):
            for second in self.bins[i + 1 :]:
                if _overlap(first, second):
                    raise ValueError(
                        f"characteristic {self.name!r}: bins {first.label} and {second.label} "
                        "overlap"
                    )
        return self

    @property
    def best_points(self) -> float:
        return max([b.points for b in self.bins] + [self.missing_points])


class Grade(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min_score: float = Field(allow_inf_nan=False)
    grade: str = Field(min_length=1, max_length=8)
    pd: float = Field(ge=0, le=1, description="Probability of default within 12 months.")


class Scorecard(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_NAME)
    version: int = Field(default=1, ge=1)
    base_points: float = Field(default=0, allow_inf_nan=False)
    characteristics: list[Characteristic] = Field(min_length=1)
    grades: list[Grade] = Field(description="By min_score, highest first; below all: the last.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [c.name for c in self.characteristics]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"scorecard {self.name!r}: characteristic names repeat: {twice}")
        if not self.grades:
            raise ValueError(f"scorecard {self.name!r}: grades must not be empty")
        labels = [g.grade for g in self.grades]
        if len(set(labels)) != len(labels):
            raise ValueError(f"scorecard {self.name!r}: grade names repeat: {labels}")
        for above, below in zip(self.grades, self.grades[1:], strict=False):
            if below.min_score >= above.min_score or below.pd < above.pd:
                raise ValueError(
                    f"scorecard {self.name!r}: grade {below.grade} must have a lower min_score "
                    f"and no lower pd than {above.grade} (grades go from best to worst)"
                )
        return self

    def grade_of(self, score: float) -> Grade:
        return next((g for g in self.grades if score >= g.min_score), self.grades[-1])


class ScorecardSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    champion: Scorecard
    challenger: Scorecard | None = None
    challenger_share: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if self.challenger is not None and self.challenger.name == self.champion.name:
            raise ValueError(
                f"the challenger must have another name than the champion ({self.champion.name!r})"
            )
        return self


class CharacteristicResult(BaseModel):
    name: str
    label: str
    value: Any = None
    bin: str = Field(description="The bin's label, 'missing' or 'unmatched'.")
    points: float
    reason_code: str | None = None


class ScoreResult(BaseModel):
    scorecard: str
    version: int
    score: float
    grade: str
    pd: float
    characteristics: list[CharacteristicResult]
    reason_codes: list[str] = Field(
        description="Up to four codes of the characteristics that cost the most points."
    )


# -- scoring --------------------------------------------------------------------------------


def _years(since: date, on: date) -> int:
    return on.year - since.year - ((on.month, on.day) < (since.month, since.day))


def _birth_date(application: Application) -> date | None:
    applicant = application.applicant
    if applicant.birth_date is not None:
        return applicant.birth_date
    digits = applicant.id_number[6:14]
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def _established(external: dict[str, Any]) -> date | None:
    business = external.get("business")
    value = business.get("established_on") if isinstance(business, dict) else None
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def scoring_context(
    application: Application, external: dict[str, Any], antifraud: dict[str, Any]
) -> dict[str, Any]:
    """What characteristics read: the inputs as JSON data plus ``derived`` values.

    ``derived``: ``age`` and ``years_in_business`` in whole years on the application date
    (today when absent), from the birth date (or the ID number) and the business registry's
    ``external.business.established_on``; ``dti`` = existing monthly debt payments / monthly
    income (None without income). Each is None when its source is missing.
    """
    applicant = application.applicant
    on = application.applied_on or date.today()
    born, established = _birth_date(application), _established(external)
    income = applicant.monthly_income
    derived = {
        "age": _years(born, on) if born else None,
        "dti": round(applicant.monthly_debt_payment / income, 4) if income > 0 else None,
        "years_in_business": _years(established, on) if established else None,
    }
    return {
        "application": application.model_dump(mode="json"),
        "external": external,
        "antifraud": antifraud,
        "derived": derived,
    }


def _lookup(context: dict[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _score_one(characteristic: Characteristic, value: Any) -> CharacteristicResult:
    if isinstance(value, dict | list):
        raise WorkerError(
            f"characteristic {characteristic.name!r}: {characteristic.variable} is "
            f"{'an object' if isinstance(value, dict) else 'a list'}, not a value a bin can hold",
            retryable=False,
        )
    found = (
        None if value is None else next((b for b in characteristic.bins if b.matches(value)), None)
    )
    common = {"name": characteristic.name, "label": characteristic.label or characteristic.name}
    if found is not None:
        return CharacteristicResult(
            **common,
            value=value,
            bin=found.label,
            points=found.points,
            reason_code=found.reason_code,
        )
    return CharacteristicResult(
        **common,
        value=value,
        bin="missing" if value is None else "unmatched",
        points=characteristic.missing_points,
        reason_code=characteristic.missing_reason_code,
    )


def score_with(scorecard: Scorecard, context: dict[str, Any]) -> ScoreResult:
    """Score one context with one scorecard (see :func:`scoring_context`)."""
    results = [_score_one(c, _lookup(context, c.variable)) for c in scorecard.characteristics]
    score = round(scorecard.base_points + sum(r.points for r in results), 4)
    grade = scorecard.grade_of(score)
    pairs = zip(scorecard.characteristics, results, strict=True)
    # most points lost first; the code breaks ties so the order is stable
    lost = sorted(
        (r.points - c.best_points, str(r.reason_code))
        for c, r in pairs
        if r.reason_code and r.points < c.best_points
    )
    return ScoreResult(
        scorecard=scorecard.name,
        version=scorecard.version,
        score=score,
        grade=grade.grade,
        pd=grade.pd,
        characteristics=results,
        reason_codes=[code for _, code in lost[:4]],
    )


def in_challenger_sample(application_id: str, challenger: str, share: float) -> bool:
    """Whether the challenger also scores this application; the same answer on every run."""
    if share <= 0:
        return False
    digest = hashlib.sha256((application_id + challenger).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


# -- the shipped default --------------------------------------------------------------------


def _ranges(*edges: tuple[float | None, float | None, float, str | None]) -> list[Bin]:
    return [Bin(lower=lo, upper=hi, points=p, reason_code=code) for lo, hi, p, code in edges]


def _default_card() -> Scorecard:
    c = Characteristic
    return Scorecard(
        name="rural_small_loan",
        version=1,
        base_points=560,
        characteristics=[
            c(name="age", label="年龄", variable="derived.age", missing_points=-20,
              missing_reason_code="AGE_UNKNOWN",
              bins=_ranges((None, 22, -20, "AGE_YOUNG"), (22, 30, 0, None), (30, 50, 25, None),
                           (50, 60, 10, None), (60, None, -25, "AGE_OLD"))),
            c(name="monthly_income", label="月收入",
              variable="application.applicant.monthly_income",
              missing_points=-30, missing_reason_code="INCOME_UNKNOWN",
              bins=_ranges((None, 2000, -30, "INCOME_LOW"), (2000, 4000, 0, "INCOME_MODEST"),
                           (4000, 8000, 20, None), (8000, 15000, 35, None),
                           (15000, None, 45, None))),
            c(name="dti", label="负债收入比", variable="derived.dti", missing_points=-40,
              missing_reason_code="DTI_UNKNOWN",
              bins=_ranges((None, 0.2, 30, None), (0.2, 0.35, 15, None),
                           (0.35, 0.5, 0, "DTI_HIGH"), (0.5, None, -40, "DTI_VERY_HIGH"))),
            c(name="overdue_count_24m", label="近24个月逾期次数",
              variable="external.credit.overdue_24m", missing_reason_code="NO_CREDIT_FILE",
              bins=_ranges((None, 1, 40, None), (1, 3, 0, "OVERDUE_SOME"),
                           (3, 6, -40, "OVERDUE_MANY"), (6, None, -80, "OVERDUE_CHRONIC"))),
            c(name="max_overdue_days", label="最长逾期天数",
              variable="external.credit.max_overdue_days",
              bins=_ranges((None, 1, 10, None), (1, 31, 0, "OVERDUE_SHORT"),
                           (31, 91, -40, "OVERDUE_LONG"), (91, None, -90, "OVERDUE_SEVERE"))),
            c(name="inquiries_3m", label="近3个月查询次数",
              variable="external.credit.inquiries_3m",
              bins=_ranges((None, 3, 15, None), (3, 6, 0, "INQUIRIES_SOME"),
                           (6, None, -30, "INQUIRIES_MANY"))),
            c(name="years_at_address", label="现址居住年限",
              variable="application.applicant.years_at_address",
              bins=_ranges((None, 1, -10, "ADDRESS_NEW"), (1, 3, 0, None), (3, 10, 10, None),
                           (10, None, 20, None))),
            c(name="credit_history", label="征信记录", variable="external.credit.has_history",
              bins=[Bin(values=[False], points=-30, reason_code="THIN_FILE"),
                    Bin(values=[True], points=0)]),
            c(name="years_in_business", label="经营年限", variable="derived.years_in_business",
              bins=_ranges((None, 1, -15, "BUSINESS_NEW"), (1, 3, 0, None),
                           (3, None, 20, None))),
            c(name="tax_grade", label="纳税信用等级", variable="external.tax.grade",
              bins=[Bin(values=["A"], points=20), Bin(values=["B"], points=10),
                    Bin(values=["M", "C"], points=0, reason_code="TAX_GRADE_LOW"),
                    Bin(values=["D"], points=-40, reason_code="TAX_GRADE_D")]),
            c(name="court_dishonest", label="失信被执行人",
              variable="external.court.dishonest_debtor",
              bins=[Bin(values=[True], points=-150, reason_code="COURT_DISHONEST"),
                    Bin(values=[False], points=0)]),
            c(name="court_executed", label="被执行人", variable="external.court.executed_person",
              bins=[Bin(values=[True], points=-40, reason_code="COURT_EXECUTED"),
                    Bin(values=[False], points=0)]),
        ],
        grades=[
            Grade(min_score=720, grade="A", pd=0.008),
            Grade(min_score=670, grade="B", pd=0.02),
            Grade(min_score=620, grade="C", pd=0.045),
            Grade(min_score=560, grade="D", pd=0.09),
            Grade(min_score=0, grade="E", pd=0.2),
        ],
    )  # fmt: skip


DEFAULT_SCORECARD: Scorecard = _default_card()
"""农户小额信用贷款评分卡: the province's default card until a tenant configures its own."""


def default_scorecard_settings() -> ScorecardSettings:
    """The default card as the champion, no challenger."""
    return ScorecardSettings(champion=DEFAULT_SCORECARD)


class ScorecardInput(BaseModel):
    tenant: str | None = None
    instance_id: str | None = None
    application: Application
    external: dict[str, Any] = Field(default_factory=dict)
    antifraud: dict[str, Any] = Field(default_factory=dict)
    settings: ScorecardSettings = Field(default_factory=default_scorecard_settings)


class ScorecardOutput(BaseModel):
    score: float
    grade: str
    pd: float
    decided_by: str = Field(description="Name of the champion scorecard.")
    champion: ScoreResult
    challenger: ScoreResult | None = None


@worker("risk.scorecard", retries=0)
def score_application(job: ScorecardInput) -> ScorecardOutput:
    """Score the application with the champion scorecard (and the challenger for its share).

    Pure arithmetic over data, so never retried; a characteristic whose variable holds an
    object instead of a value is a configuration error (an incident naming it).
    """
    context = scoring_context(job.application, job.external, job.antifraud)
    settings = job.settings
    champion = score_with(settings.champion, context)
    challenger = None
    if settings.challenger is not None and in_challenger_sample(
        job.application.id, settings.challenger.name, settings.challenger_share
    ):
        challenger = score_with(settings.challenger, context)
    return ScorecardOutput(
        score=champion.score,
        grade=champion.grade,
        pd=champion.pd,
        decided_by=settings.champion.name,
        champion=champion,
        challenger=challenger,
    )
