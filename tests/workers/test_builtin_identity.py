"""identity.check_id_number: GB 11643-1999 structure, checksum, birth date, sex and masking."""

from datetime import date
from typing import Any

import pytest

from loanflow.engine.errors import BusinessError, WorkerError
from loanflow.workers import definition_of, run_worker
from loanflow.workers.builtin.identity import (
    IdCheckInput,
    IdCheckOutput,
    check_digit,
    check_id_number,
    id_checksum_ok,
    mask_id_number,
)

ON = date(2024, 6, 1)


def with_check_digit(first17: str) -> str:
    """The test's own ISO 7064 MOD 11-2, independent of the module under test."""
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    remainder = (12 - sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11) % 11
    return first17 + ("X" if remainder == 10 else str(remainder))


def check(id_number: str, **fields: Any) -> IdCheckOutput:
    return check_id_number(IdCheckInput(id_number=id_number, on_date=ON, **fields))


VALID = with_check_digit("11010519491231002")


def test_known_sample_and_check_digit() -> None:
    assert VALID == "11010519491231002X"
    assert check_digit("11010519491231002") == "X"
    assert check_digit(VALID[:17]) == VALID[17]
    for first17 in ("44030419900307123", "51010820001231456", "65010219820229789"):
        assert check_digit(first17) == with_check_digit(first17)[-1]
    assert id_checksum_ok(VALID)
    assert id_checksum_ok(VALID.lower())


def test_valid_number() -> None:
    result = check(VALID, name="张三")
    assert result.valid is True
    assert result.problems == []
    assert result.birth_date == date(1949, 12, 31)
    assert result.sex == "F"
    assert result.age == 74
    assert result.masked == "110105********002X"


def test_input_is_normalised() -> None:
    result = check(" 110105 19491231 002x ")
    assert result.valid is True
    assert result.masked == "110105********002X"


def test_wrong_checksum() -> None:
    wrong = VALID[:17] + "0"
    result = check(wrong)
    assert (result.valid, result.problems) == (False, ["checksum"])
    assert result.birth_date == date(1949, 12, 31)
    assert not id_checksum_ok(wrong)


def test_single_digit_typo_is_caught() -> None:
    for i in range(17):
        typo = VALID[:i] + str((int(VALID[i]) + 1) % 10) + VALID[i + 1 :]
        assert not id_checksum_ok(typo), typo


@pytest.mark.parametrize("number", ["11010519491231002", "11010519491231002X1", "1", "1" * 64])
def test_wrong_length(number: str) -> None:
    result = check(number)
    assert (result.valid, result.problems) == (False, ["length"])
    assert (result.birth_date, result.sex, result.age) == (None, None, None)


@pytest.mark.parametrize(
    "number", ["1101051949123100AX", "11010519491231002Y", "１１010519491231002X"]
)
def test_bad_characters(number: str) -> None:
    assert check(number).problems == ["format"]


@pytest.mark.parametrize(
    "birth", ["19491331", "19490230", "20230229", "19490000", "18991231", "99999999"]
)
def test_impossible_birth_date(birth: str) -> None:
    number = with_check_digit(f"110105{birth}002")
    result = check(number)
    assert (result.valid, result.problems) == (False, ["birth_date"])
    assert result.age is None


def test_leap_day_birth_date_is_fine() -> None:
    result = check(with_check_digit("11010520000229001"))
    assert result.valid and result.birth_date == date(2000, 2, 29)
    assert result.age == 24


def test_future_birth_date() -> None:
    number = with_check_digit("11010520300101001")
    result = check(number)
    assert (result.valid, result.problems) == (False, ["birth_date"])
    assert result.birth_date == date(2030, 1, 1)
    assert result.age is None
    assert check_id_number(IdCheckInput(id_number=number, on_date=date(2031, 1, 1))).valid


def test_born_today_is_age_zero() -> None:
    result = check(with_check_digit("110105" + ON.strftime("%Y%m%d") + "001"))
    assert (result.valid, result.age) == (True, 0)


def test_age_turns_on_the_birthday() -> None:
    number = with_check_digit("11010519900602001")
    assert check(number).age == 33
    assert check_id_number(IdCheckInput(id_number=number, on_date=date(2024, 6, 2))).age == 34


def test_age_defaults_to_today() -> None:
    result = check_id_number(IdCheckInput(id_number=VALID))
    today = date.today()
    expected = today.year - 1949 - ((today.month, today.day) < (12, 31))
    assert result.age == expected


@pytest.mark.parametrize(
    "region", ["00", "10", "16", "20", "24", "47", "55", "66", "70", "83", "99"]
)
def test_unknown_province(region: str) -> None:
    result = check(with_check_digit(f"{region}010519491231002"))
    assert (result.valid, result.problems) == (False, ["region"])


@pytest.mark.parametrize(
    "region", ["11", "15", "21", "37", "46", "50", "54", "65", "71", "82", "91"]
)
def test_known_province(region: str) -> None:
    assert check(with_check_digit(f"{region}010519491231002")).valid


def test_several_problems_are_all_reported() -> None:
    number = with_check_digit("99010519491331002")
    result = check(number[:17] + ("1" if number[17] != "1" else "2"))
    assert result.problems == ["region", "birth_date", "checksum"]


@pytest.mark.parametrize(
    ("sequence", "sex"), [("001", "M"), ("002", "F"), ("019", "M"), ("990", "F")]
)
def test_sex_from_the_17th_digit(sequence: str, sex: str) -> None:
    assert check(with_check_digit(f"44030419900307{sequence}")).sex == sex


def test_masking_hides_the_birth_date() -> None:
    number = with_check_digit("44030419900307123")
    masked = check(number).masked
    assert masked == "440304********123" + number[-1]
    assert "19900307" not in masked and number not in masked
    assert mask_id_number("12345") == "12345"
    assert mask_id_number("1234567890") == "123456****"


def test_strict_raises_business_error_without_the_full_number() -> None:
    number = with_check_digit("11010519491331002")
    with pytest.raises(BusinessError) as caught:
        check(number, strict=True)
    error = caught.value
    assert error.code == "ID_INVALID"
    assert error.variables == {"id_problems": ["birth_date"]}
    assert "110105********" in error.message
    assert number not in error.message


def test_strict_valid_number_returns_normally() -> None:
    assert check(VALID, strict=True).valid


def test_through_the_sdk() -> None:
    defn = definition_of(check_id_number)
    assert (defn.topic, defn.retries) == ("identity.check_id_number", 0)
    result = run_worker(defn, {"id_number": VALID, "on_date": "2024-06-01"})
    assert result == {
        "valid": True,
        "problems": [],
        "birth_date": "1949-12-31",
        "sex": "F",
        "age": 74,
        "masked": "110105********002X",
    }
    with pytest.raises(BusinessError, match="checksum"):
        run_worker(defn, {"id_number": VALID[:17] + "1", "strict": True})
    with pytest.raises(WorkerError, match="id_number: Field required") as caught:
        run_worker(defn, {"name": "张三"})
    assert caught.value.retryable is False


def test_helpers_refuse_or_reject_garbage() -> None:
    for bad in ("", "1234", "1101051949123100X", VALID, "abcdefghijklmnopq", "１１010519491231002"):
        with pytest.raises(ValueError, match="17 ASCII digits"):
            check_digit(bad)
    for bad in ("", VALID[:17], VALID + "1", "ABCDEFGHIJKLMNOPQX", "１１010519491231002X"):
        assert not id_checksum_ok(bad)
