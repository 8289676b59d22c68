"""Every check the OCR workers make, on renders that fail it (and strict mode)."""

from __future__ import annotations

from datetime import date

import pytest
from ocr.support import APPLICATION_DATE, Reader, Specimens, b64

from loanflow.engine.errors import BusinessError
from loanflow.workers.ocr import IdCardInput, OcrService


def codes(failures: list[object]) -> set[str]:
    return {getattr(f, "code") for f in failures}  # noqa: B009


def test_bad_id_checksum(reader: Reader, specimens: Specimens) -> None:
    out = reader.id_card("bad_front")
    assert out.id_number.value == specimens.bad_card.id_number
    assert codes(out.failures) == {"ID_CHECKSUM"}
    assert not out.valid
    (failure,) = out.failures
    assert failure.field == "id_number"
    assert specimens.bad_card.id_number not in failure.message  # masked


def test_birth_date_and_sex_that_disagree_with_the_number(reader: Reader) -> None:
    out = reader.id_card("mismatch_front")
    assert codes(out.failures) == {"ID_BIRTH_MISMATCH", "ID_SEX_MISMATCH"}
    assert {f.field for f in out.failures} == {"birth_date", "sex"}


def test_expired_card(reader: Reader, specimens: Specimens) -> None:
    out = reader.id_card("expired_back")
    assert codes(out.failures) == {"ID_EXPIRED"}
    until = specimens.expired_card.valid_until
    assert until is not None and until < APPLICATION_DATE
    assert out.valid_until.value == until.isoformat()


def test_bad_credit_code(reader: Reader, specimens: Specimens) -> None:
    out = reader.license("bad_license")
    assert out.credit_code.value == specimens.bad_license.credit_code
    assert codes(out.failures) == {"USCC_CHECKSUM"}


def test_unbalanced_statement(reader: Reader, specimens: Specimens) -> None:
    out = reader.statement("unbalanced")
    assert out.unit == "元"
    assert codes(out.failures) == {"STATEMENT_UNBALANCED"}
    assert out.balance.balanced is False
    items = specimens.unbalanced.items
    expected = items["total_assets"] - items["total_liabilities"] - items["owners_equity"]
    assert out.balance.difference == pytest.approx(expected, abs=0.01)


def test_strict_raises_the_failures_as_a_bpmn_error(ocr: OcrService, specimens: Specimens) -> None:
    job = IdCardInput(image_base64=b64(specimens.images["expired_back"]), strict=True)
    with pytest.raises(BusinessError) as caught:
        ocr.read_id_card(job.model_copy(update={"application_date": date(2099, 1, 1)}))
    assert caught.value.code == "OCR_VALIDATION_FAILED"
    assert [f["code"] for f in caught.value.variables["ocr_failures"]] == ["ID_EXPIRED"]
