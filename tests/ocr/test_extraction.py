"""Fields read from synthetic renders, clean and photo-like, through the real engine."""

from __future__ import annotations

from ocr.support import Reader, Specimens

from loanflow.workers.ocr._layout import clean_text


def _right(expected: dict[str, object], got: dict[str, object]) -> list[str]:
    """Names of the fields read wrong."""
    return [
        name
        for name, value in expected.items()
        if got.get(name) is None or clean_text(str(got[name])) != clean_text(str(value))
    ]


def _front(s: Specimens) -> dict[str, object]:
    card = s.card
    return {
        "name": card.name,
        "sex": card.sex,
        "ethnicity": card.ethnicity,
        "birth_date": card.birth_date.isoformat(),
        "address": card.address,
        "id_number": card.id_number,
    }


def _license(s: Specimens) -> dict[str, object]:
    lic = s.license
    return {
        "company_name": lic.company_name,
        "credit_code": lic.credit_code,
        "company_type": lic.company_type,
        "legal_representative": lic.legal_representative,
        "registered_capital": lic.registered_capital,
        "established": lic.established.isoformat(),
        "address": lic.address,
    }


def test_clean_id_front_reads_every_field_and_passes(reader: Reader, specimens: Specimens) -> None:
    out = reader.id_card("front")
    assert out.side == "front"
    assert _right(_front(specimens), out.fields) == []
    assert out.valid, out.failures
    assert out.name.confidence > 0.9
    assert out.masked_id_number is not None and "*" * 8 in out.masked_id_number


def test_clean_id_back_reads_authority_and_validity(reader: Reader, specimens: Specimens) -> None:
    out = reader.id_card("back")
    card = specimens.card
    assert out.side == "back"
    assert out.issuing_authority.value == card.issuing_authority
    assert out.valid_from.value == card.valid_from.isoformat()
    assert card.valid_until is not None and out.valid_until.value == card.valid_until.isoformat()
    assert out.valid, out.failures


def test_noisy_id_card_sides_read_within_target(reader: Reader, specimens: Specimens) -> None:
    front = reader.id_card("front_noisy")
    back = reader.id_card("back_noisy")
    assert front.side == "front" and back.side == "back"
    assert len(_right(_front(specimens), front.fields)) <= 1
    assert back.fields["valid_from"] == specimens.card.valid_from.isoformat()


def test_clean_license_reads_every_field(reader: Reader, specimens: Specimens) -> None:
    out = reader.license("license")
    assert _right(_license(specimens), out.fields) == []
    scope = out.business_scope.value
    assert scope is not None and clean_text(scope) == clean_text(specimens.license.business_scope)
    assert out.registered_capital_yuan is not None and out.registered_capital_yuan >= 300_000
    assert out.valid, out.failures


def test_noisy_license_reads_within_target(reader: Reader, specimens: Specimens) -> None:
    out = reader.license("license_noisy")
    assert len(_right(_license(specimens), out.fields)) <= 1
    assert out.credit_code.value == specimens.license.credit_code


def test_statement_in_wan_yuan_is_read_in_yuan_and_balances(
    reader: Reader, specimens: Specimens
) -> None:
    out = reader.statement("statement")
    assert out.unit == "万元"
    assert out.period_end == specimens.statement.period_end
    for key, value in specimens.statement.items.items():
        assert out.items[key].value == round(value, 2), key
    assert out.balance.balanced is True
    assert out.balance.difference is not None and abs(out.balance.difference) <= 100
    assert out.valid, out.failures
    assert out.fields["total_assets"] == specimens.statement.items["total_assets"]


def test_noisy_statement_totals(reader: Reader, specimens: Specimens) -> None:
    out = reader.statement("statement_noisy")
    expected = specimens.statement.items
    wrong = [k for k, v in expected.items() if k not in out.items or out.items[k].value != v]
    assert len(wrong) <= 1, wrong
