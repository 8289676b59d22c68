"""risk.scorecard: binning edges, grades, champion/challenger split, configuration errors."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from loanflow.engine.errors import WorkerError
from loanflow.workers.risk._models import Application
from loanflow.workers.risk._scorecard import (
    DEFAULT_SCORECARD,
    Bin,
    Characteristic,
    Grade,
    Scorecard,
    ScorecardInput,
    ScorecardSettings,
    in_challenger_sample,
    score_application,
    score_with,
    scoring_context,
)
from loanflow.workers.sdk import definition_of, run_worker

ID = "420802198503140021"


def application(**overrides: Any) -> Application:
    applicant = {
        "name": "张三",
        "id_number": ID,
        "monthly_income": 6000,
        "monthly_debt_payment": 600,
        **overrides.pop("applicant", {}),
    }
    data = {"id": "APP-1", "amount": 50000, "applied_on": "2026-01-05", "applicant": applicant}
    return Application.model_validate({**data, **overrides})


def card(*characteristics: Characteristic, name: str = "test", base: float = 100) -> Scorecard:
    return Scorecard(
        name=name,
        base_points=base,
        characteristics=list(characteristics),
        grades=[
            Grade(min_score=150, grade="A", pd=0.01),
            Grade(min_score=100, grade="B", pd=0.05),
            Grade(min_score=50, grade="C", pd=0.1),
        ],
    )


INCOME = Characteristic(
    name="income",
    variable="application.applicant.monthly_income",
    missing_points=-99,
    bins=[
        Bin(upper=3000, points=-10, reason_code="LOW"),
        Bin(lower=3000, upper=8000, points=10),
        Bin(lower=8000, upper=8000, upper_inclusive=True, points=15),
        Bin(lower=8000, lower_inclusive=False, points=20),
    ],
)
TAX = Characteristic(
    name="tax",
    variable="external.tax.grade",
    missing_points=-5,
    missing_reason_code="NO_TAX",
    bins=[Bin(values=["A", "B"], points=10), Bin(values=["D"], points=-30, reason_code="TAX_D")],
)
DISHONEST = Characteristic(
    name="dishonest",
    variable="external.court.dishonest_debtor",
    bins=[Bin(values=[True], points=-100, reason_code="DISHONEST"), Bin(values=[0], points=1)],
)


def points(characteristic: Characteristic, value: Any) -> tuple[float, str]:
    context = {"application": {}, "external": {}, "antifraud": {}, "derived": {}}
    root, *path = characteristic.variable.split(".")
    target: dict[str, Any] = context[root]
    for part in path[:-1]:
        target = target.setdefault(part, {})
    if value is not ...:
        target[path[-1]] = value
    (result,) = score_with(card(characteristic), context).characteristics
    return result.points, result.bin


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, (-10, "(-inf, 3000)")),
        (2999.99, (-10, "(-inf, 3000)")),
        (3000, (10, "[3000, 8000)")),  # lower inclusive
        (7999.99, (10, "[3000, 8000)")),  # upper exclusive
        (8000, (15, "[8000, 8000]")),  # a single point
        (8000.01, (20, "(8000, +inf)")),  # lower exclusive
        (None, (-99, "missing")),
        (..., (-99, "missing")),  # the key is absent
        ("lots", (-99, "unmatched")),  # a string never falls in a numeric range
    ],
)
def test_numeric_bins_respect_inclusive_and_exclusive_edges(
    value: Any, expected: tuple[float, str]
) -> None:
    assert points(INCOME, value) == expected


def test_value_bins_match_exact_values_and_keep_bool_apart_from_numbers() -> None:
    assert points(TAX, "A") == (10, "{A, B}")
    assert points(TAX, "B") == (10, "{A, B}")
    assert points(TAX, "D") == (-30, "{D}")
    assert points(TAX, "M") == (-5, "unmatched")
    assert points(TAX, ...) == (-5, "missing")
    assert points(DISHONEST, True) == (-100, "{true}")
    assert points(DISHONEST, 0) == (1, "{0}")
    assert points(DISHONEST, False) == (0, "unmatched")  # False is not 0 here
    assert points(DISHONEST, 1) == (0, "unmatched")  # nor 1 True


def test_score_adds_base_points_and_maps_grades_with_the_last_as_floor() -> None:
    scorecard = card(INCOME, TAX)
    grade = {s: scorecard.grade_of(s).grade for s in (200, 150, 149.99, 100, 50, 49, -1000)}
    assert grade == {200: "A", 150: "A", 149.99: "B", 100: "B", 50: "C", 49: "C", -1000: "C"}
    context = {"application": {"applicant": {"monthly_income": 9000}}, "external": {}}
    result = score_with(scorecard, context)
    assert result.score == 100 + 20 - 5
    assert (result.grade, result.pd) == ("B", 0.05)
    assert [(c.name, c.value, c.points, c.reason_code) for c in result.characteristics] == [
        ("income", 9000, 20, None),
        ("tax", None, -5, "NO_TAX"),
    ]
    assert result.reason_codes == ["NO_TAX"]


def test_reason_codes_are_ordered_by_points_lost() -> None:
    context = {
        "application": {"applicant": {"monthly_income": 100}},
        "external": {"tax": {"grade": "D"}},
    }
    result = score_with(card(INCOME, TAX), context)
    assert result.reason_codes == ["TAX_D", "LOW"]  # 40 lost, then 30


def test_derived_values_age_dti_and_years_in_business() -> None:
    app = application(applicant={"birth_date": "1990-01-06"})
    derived = scoring_context(app, {"business": {"established_on": "2020-01-05"}}, {})["derived"]
    assert derived == {"age": 35, "dti": 0.1, "years_in_business": 6}
    from_id = scoring_context(application(), {}, {})["derived"]
    assert from_id == {"age": 40, "dti": 0.1, "years_in_business": None}
    no_income = scoring_context(application(applicant={"monthly_income": 0}), {}, {})
    assert no_income["derived"]["dti"] is None


def test_default_scorecard_reads_the_external_data_output() -> None:
    external = {
        "credit": {"has_history": True, "overdue_24m": 0, "max_overdue_days": 0, "inquiries_3m": 1},
        "tax": {"grade": "A"},
        "court": {"dishonest_debtor": False, "executed_person": False},
        "business": {"established_on": "2015-03-01"},
    }
    good = score_application(ScorecardInput(application=application(), external=external))
    assert good.decided_by == DEFAULT_SCORECARD.name
    assert good.challenger is None
    assert (good.score, good.grade) == (good.champion.score, good.champion.grade)
    missing = [c.name for c in good.champion.characteristics if c.bin == "missing"]
    assert missing == ["years_at_address"]
    assert good.grade in ("A", "B")

    bad = {**external, "court": {"dishonest_debtor": True, "executed_person": True}}
    bad["credit"] = {**external["credit"], "overdue_24m": 7, "max_overdue_days": 120}
    worse = score_application(ScorecardInput(application=application(), external=bad))
    assert worse.score < good.score - 300
    assert worse.grade == "E"
    assert "COURT_DISHONEST" in worse.champion.reason_codes


def settings(share: float) -> ScorecardSettings:
    challenger = card(INCOME, name="challenger", base=0)
    return ScorecardSettings(champion=card(INCOME), challenger=challenger, challenger_share=share)


def test_challenger_share_zero_and_one() -> None:
    app = application()
    never = score_application(ScorecardInput(application=app, settings=settings(0.0)))
    assert never.challenger is None
    always = score_application(ScorecardInput(application=app, settings=settings(1.0)))
    assert always.challenger is not None
    assert always.challenger.scorecard == "challenger"
    assert always.challenger.score == 10
    # the champion alone decides
    assert (always.score, always.grade, always.decided_by) == (110, "B", "test")
    assert always.champion.score == 110


def test_challenger_split_is_deterministic_and_close_to_the_share() -> None:
    ids = [f"APP-{n:05d}" for n in range(1000)]
    chosen = [i for i in ids if in_challenger_sample(i, "challenger", 0.2)]
    assert 160 <= len(chosen) <= 240
    assert chosen == [i for i in ids if in_challenger_sample(i, "challenger", 0.2)]
    # a larger share keeps everyone the smaller one had
    assert set(chosen) <= {i for i in ids if in_challenger_sample(i, "challenger", 0.5)}
    app = application(id=chosen[0])
    first = score_application(ScorecardInput(application=app, settings=settings(0.2)))
    again = score_application(ScorecardInput(application=app, settings=settings(0.2)))
    assert first.challenger is not None
    assert first == again


@pytest.mark.parametrize(
    ("bins", "message"),
    [
        (
            [Bin(upper=10, points=0), Bin(lower=5, points=1)],
            "bins (-inf, 10) and [5, +inf) overlap",
        ),
        (
            [Bin(upper=10, upper_inclusive=True, points=0), Bin(lower=10, points=1)],
            "overlap",
        ),
        ([Bin(values=["A"], points=0), Bin(values=["B", "A"], points=1)], "overlap"),
        ([Bin(values=[5], points=0), Bin(lower=0, upper=10, points=1)], "overlap"),
    ],
)
def test_overlapping_bins_are_refused_naming_the_characteristic(
    bins: list[Bin], message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        Characteristic(name="income", variable="derived.age", bins=bins)
    assert "characteristic 'income'" in str(error.value)
    assert message in str(error.value)


def test_touching_bins_are_fine() -> None:
    Characteristic(
        name="ok",
        variable="derived.age",
        bins=[Bin(upper=10, points=0), Bin(lower=10, points=1), Bin(values=["x"], points=2)],
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"grades": []}, "grades must not be empty"),
        ({"characteristics": [INCOME, INCOME]}, "characteristic names repeat: ['income']"),
        (
            {
                "grades": [
                    Grade(min_score=1, grade="A", pd=0.1),
                    Grade(min_score=5, grade="B", pd=0.2),
                ]
            },
            "grade B must have a lower min_score",
        ),
        (
            {
                "grades": [
                    Grade(min_score=5, grade="A", pd=0.3),
                    Grade(min_score=1, grade="B", pd=0.2),
                ]
            },
            "no lower pd than A",
        ),
        (
            {
                "grades": [
                    Grade(min_score=5, grade="A", pd=0.1),
                    Grade(min_score=1, grade="A", pd=0.2),
                ]
            },
            "grade names repeat",
        ),
    ],
)
def test_invalid_scorecards_are_refused(change: dict[str, Any], message: str) -> None:
    data = card(INCOME).model_dump() | change
    with pytest.raises(ValidationError) as error:
        Scorecard.model_validate(data)
    assert message in str(error.value)


def test_bad_bins_and_paths_are_refused() -> None:
    with pytest.raises(ValidationError, match="either values or lower/upper"):
        Bin(values=["A"], lower=1, points=0)
    with pytest.raises(ValidationError, match="lower is above upper"):
        Bin(lower=5, upper=1, points=0)
    with pytest.raises(ValidationError, match="is empty"):
        Bin(lower=5, upper=5, points=0)
    with pytest.raises(ValidationError, match="variable"):
        Characteristic(name="x", variable="applicaton.amount", bins=[Bin(points=0)])
    with pytest.raises(ValidationError, match="another name than the champion"):
        ScorecardSettings(champion=card(INCOME), challenger=card(TAX), challenger_share=0.5)


def test_bad_configuration_through_the_runner_is_a_non_retryable_worker_error() -> None:
    defn = definition_of(score_application)
    assert (defn.topic, defn.retries) == ("risk.scorecard", 0)
    overlapping = card(INCOME).model_dump(mode="json")
    overlapping["characteristics"][0]["bins"][1]["lower"] = 2000
    payload = {
        "application": application().model_dump(mode="json"),
        "settings": {"champion": overlapping},
    }
    with pytest.raises(WorkerError) as error:
        run_worker(defn, payload)
    assert not error.value.retryable
    assert "characteristic 'income'" in str(error.value)


def test_a_variable_holding_an_object_is_a_configuration_error_naming_it() -> None:
    whole = Characteristic(name="credit", variable="external.credit", bins=[Bin(points=0)])
    job = ScorecardInput(
        application=application(),
        external={"credit": {"overdue_24m": 1}},
        settings=ScorecardSettings(champion=card(whole)),
    )
    with pytest.raises(WorkerError) as error:
        score_application(job)
    assert not error.value.retryable
    assert "characteristic 'credit'" in str(error.value)


def test_default_output_round_trips_as_json() -> None:
    out = run_worker(
        definition_of(score_application),
        {"application": application().model_dump(mode="json"), "external": {}},
    )
    assert out["decided_by"] == "rural_small_loan"
    assert out["champion"]["characteristics"][0]["name"] == "age"
