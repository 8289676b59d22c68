"""Rendering: deterministic bytes, an embedded CJK subset font, text that extracts, fields."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from loanflow.workers.contract import (
    DEFAULT_TEMPLATE,
    ContractRequest,
    RenderError,
    render_contract,
    signature_fields,
)


def _pdftotext(pdf: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    source = tmp_path / "contract.pdf"
    source.write_bytes(pdf)
    result = subprocess.run(
        ["pdftotext", "-layout", str(source), "-"], capture_output=True, check=True, timeout=60
    )
    return result.stdout.decode()


def _fonts(pdf: bytes) -> list[Any]:
    reader = PdfFileReader(io.BytesIO(pdf))
    fonts = []
    for page_ref in reader.root["/Pages"]["/Kids"]:
        resources = page_ref.get_object()["/Resources"].get_object()
        for font in resources["/Font"].get_object().values():
            fonts.append(font.get_object())
    return fonts


def test_the_same_input_gives_the_same_bytes(make_request: Callable[..., ContractRequest]) -> None:
    first = render_contract(make_request(), DEFAULT_TEMPLATE)
    second = render_contract(make_request(), DEFAULT_TEMPLATE)
    assert first.pdf == second.pdf
    assert first.sha256 == second.sha256 and first.sm3 == second.sm3
    assert first.pages == 3


@pytest.mark.parametrize(
    "change",
    [
        {"amount": Decimal("100000.01")},
        {"contract_number": "HT-2026-0002"},
        {"annual_rate": Decimal("0.0436")},
        {"signing_date": date(2026, 1, 6)},
        {"months": 25},
        {"method": "equal_principal"},
        {"guarantors": []},
    ],
)
def test_a_different_input_gives_different_bytes(
    make_request: Callable[..., ContractRequest], change: dict[str, Any]
) -> None:
    base = render_contract(make_request(), DEFAULT_TEMPLATE)
    other = render_contract(make_request(**change), DEFAULT_TEMPLATE)
    assert other.sha256 != base.sha256


def test_the_creation_date_is_the_signing_date(
    make_request: Callable[..., ContractRequest],
) -> None:
    pdf = render_contract(make_request(signing_date=date(2026, 3, 9)), DEFAULT_TEMPLATE).pdf
    info = PdfFileReader(io.BytesIO(pdf)).trailer["/Info"]
    assert str(info["/CreationDate"]).startswith("D:20260309000000")
    assert "HT-2026-0001" in str(info["/Title"])


def test_only_an_embedded_subset_of_the_cjk_font_is_used(
    make_request: Callable[..., ContractRequest],
) -> None:
    rendered = render_contract(make_request(), DEFAULT_TEMPLATE)
    fonts = _fonts(rendered.pdf)
    assert fonts
    for font in fonts:
        assert re.fullmatch(r"/[A-Z]{6}\+WenQuanYiZenHei\S*", str(font["/BaseFont"])), font
        descriptor = font["/FontDescriptor"]
        assert "/FontFile2" in descriptor, "the TrueType program is embedded"
    assert len(rendered.pdf) < 200_000, "a subset, not the 16 MB font"


def test_the_contract_has_two_empty_signature_fields(
    make_request: Callable[..., ContractRequest],
) -> None:
    fields = signature_fields(render_contract(make_request(), DEFAULT_TEMPLATE).pdf)
    assert sorted(fields) == ["bank_seal", "customer"]
    assert not any(f.filled for f in fields.values())
    assert fields["bank_seal"].width == fields["bank_seal"].height > 100
    assert fields["customer"].width > fields["customer"].height > 40


def test_the_text_says_what_the_contract_is(
    make_request: Callable[..., ContractRequest], tmp_path: Path
) -> None:
    request = make_request()
    text = _pdftotext(render_contract(request, DEFAULT_TEMPLATE).pdf, tmp_path)
    flat = re.sub(r"\s+", "", text)
    for expected in (
        "个人借款合同",
        "合同编号：HT-2026-0001",
        "湖北恩施农村商业银行股份有限公司",
        f"借款人（乙方）：张三身份证号码：{request.borrower.id_number}",
        "保证人（丙方）：李四",
        "人民币（大写）壹拾万元整（小写：¥100,000.00）",
        "年利率4.35%",
        "自2026年1月5日起至2028年1月5日止",
        "等额本息",
        "第九条保证担保",
        "签订地点：恩施市",
        "附件：还款计划表",
        "2028-01-05",
        "第1页共3页",
        "第3页共3页",
    ):
        assert expected in flat, expected
    starts = re.findall(r"^\s*([，；：。、！？）》])", text, re.MULTILINE)
    assert not starts, f"lines start with {starts}: Chinese punctuation must not"


def test_no_guarantee_clause_without_guarantors(
    make_request: Callable[..., ContractRequest], tmp_path: Path
) -> None:
    flat = re.sub(r"\s+", "", _pdftotext(
        render_contract(make_request(guarantors=[]), DEFAULT_TEMPLATE).pdf, tmp_path
    ))  # fmt: skip
    assert "保证担保" not in flat and "丙方" not in flat
    assert "第九条争议解决" in flat


def test_a_thirty_year_schedule_numbers_every_page(
    make_request: Callable[..., ContractRequest], tmp_path: Path
) -> None:
    rendered = render_contract(
        make_request(months=360, method="equal_principal", amount=Decimal("880000")),
        DEFAULT_TEMPLATE,
    )
    assert rendered.pages > 8
    flat = re.sub(r"\s+", "", _pdftotext(rendered.pdf, tmp_path))
    assert f"第{rendered.pages}页共{rendered.pages}页" in flat
    assert "等额本金" in flat and "捌拾捌万元整" in flat


def test_page_one_as_png(
    make_request: Callable[..., ContractRequest],
    tmp_path: Path,
    keep_artifact: Callable[[Path], Path],
) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    source = tmp_path / "contract.pdf"
    source.write_bytes(render_contract(make_request(), DEFAULT_TEMPLATE).pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(source),
         str(tmp_path / "contract-page-1")],
        check=True,
        timeout=60,
    )  # fmt: skip
    png = tmp_path / "contract-page-1.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"page 1: {png} (kept as {keep_artifact(png)})")


def test_a_missing_font_is_a_render_error(
    make_request: Callable[..., ContractRequest], tmp_path: Path
) -> None:
    with pytest.raises(RenderError, match="fonts-wqy-zenhei"):
        render_contract(make_request(), DEFAULT_TEMPLATE, font_path=tmp_path / "none.ttc")


def test_a_file_that_is_not_a_font_is_a_render_error(
    make_request: Callable[..., ContractRequest], tmp_path: Path
) -> None:
    fake = tmp_path / "fake.ttf"
    fake.write_bytes(b"not a font at all" * 10)
    with pytest.raises(RenderError, match="cannot use"):
        render_contract(make_request(), DEFAULT_TEMPLATE, font_path=fake)


def test_the_id_number_stays_out_of_reprs_and_logs(
    make_request: Callable[..., ContractRequest], caplog: pytest.LogCaptureFixture
) -> None:
    request = make_request()
    id_number = request.borrower.id_number
    assert id_number not in repr(request)
    with caplog.at_level("INFO", logger="loanflow.workers.contract"):
        render_contract(request, DEFAULT_TEMPLATE)
    assert caplog.records
    assert id_number not in caplog.text
    assert id_number[:6] + "********" + id_number[14:] in caplog.text
