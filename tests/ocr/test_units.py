"""Pure parts without the engine: layout, amounts, credit codes, workers' declarations."""

from __future__ import annotations

import math
import random
from datetime import date

import pytest
from ocr.support import FakeEngine, b64, box

from loanflow.engine.errors import BusinessError
from loanflow.workers.ocr import (
    IdCardInput,
    OcrService,
    OcrSettings,
    Page,
    TextBox,
    normalize_uscc,
    ocr_workers,
    parse_amount,
    parse_capitals,
    uscc_check_char,
    uscc_ok,
)
from loanflow.workers.ocr._documents import LICENSE_LABELS, read_statement
from loanflow.workers.ocr._idcard import FRONT_LABELS, read_id_back, read_id_front
from loanflow.workers.ocr.specimens import random_credit_code
from loanflow.workers.sdk import definition_of, run_worker

FRONT = [
    box("姓名", 50, 50, 100, 80),
    box("张三", 140, 45, 210, 85),
    box("性别男", 50, 115, 170, 145),  # label and value merged
    box("民", 250, 115, 275, 145),  # label split in two
    box("族", 278, 115, 300, 145),
    box("汉", 340, 110, 370, 150),
    box("出生", 50, 180, 100, 210),
    box("1990 年 1 月 1 日", 140, 175, 440, 210),
    box("住址", 50, 245, 100, 275),
    box("湖北省利川市团堡镇石", 140, 240, 470, 275),
    box("板岭村3组5号", 140, 284, 360, 319),
    box("公民身份号码", 50, 440, 195, 470),
    box("110101199001010015", 250, 434, 616, 470),
]


def rotated(boxes: list[TextBox], degrees: float, scale: float) -> list[TextBox]:
    a = math.radians(degrees)

    def turn(p: tuple[float, float]) -> tuple[float, float]:
        x, y = p[0] * scale, p[1] * scale
        return (x * math.cos(a) - y * math.sin(a) + 100, x * math.sin(a) + y * math.cos(a))

    return [TextBox(b.text, b.score, tuple(map(turn, b.quad))) for b in boxes]  # type: ignore[arg-type]


@pytest.mark.parametrize(("degrees", "scale"), [(0, 1.0), (4, 0.6), (-4, 1.7)])
def test_front_fields_at_any_size_and_slight_rotation(degrees: float, scale: float) -> None:
    out = read_id_front(Page(rotated(FRONT, degrees, scale)), min_confidence=0.5)
    got = {n: getattr(out, n).value for n in ("name", "sex", "ethnicity", "birth_date")}
    assert got == {"name": "张三", "sex": "男", "ethnicity": "汉", "birth_date": "1990-01-01"}
    assert out.address.value == "湖北省利川市团堡镇石板岭村3组5号"
    assert out.id_number.value == "110101199001010015"
    assert out.failures == [] and out.name.confidence == 0.99


def test_missing_and_unsure_fields_are_failures() -> None:
    boxes = [*FRONT[:2], box("性别", 50, 115, 100, 145), box("女", 140, 115, 170, 145, 0.3)]
    codes = {(f.code, f.field) for f in read_id_front(Page(boxes), min_confidence=0.5).failures}
    assert ("FIELD_MISSING", "id_number") in codes
    assert ("FIELD_MISSING", "address") in codes
    assert ("LOW_CONFIDENCE", "sex") in codes


def test_back_valid_for_life_and_not_yet_valid() -> None:
    page = Page([box("有效期限", 10, 10, 90, 30), box("2030.01.02-长期", 100, 10, 300, 30)])
    out = read_id_back(page, on=date(2024, 1, 1), min_confidence=0.5)
    assert out.valid_until.value == "长期"
    assert [f.code for f in out.failures] == ["FIELD_MISSING", "ID_NOT_YET_VALID"]


def test_value_stops_at_the_next_label_and_continues_in_its_column() -> None:
    boxes = [
        box("经营范围", 70, 510, 175, 540),
        box("茶叶种植、加工；", 230, 510, 670, 540),
        box("住所", 760, 510, 815, 540),
        box("利川市都亭街道", 900, 510, 1270, 540),
        box("中药材销售", 230, 560, 670, 590),
        box("8号", 900, 560, 950, 590),
    ]
    page = Page(boxes)
    scope = page.field("经营范围", LICENSE_LABELS, max_lines=5)
    address = page.field("住所", LICENSE_LABELS, max_lines=5)
    assert scope is not None and scope.text == "茶叶种植、加工；中药材销售"
    assert address is not None and address.text == "利川市都亭街道8号"
    assert page.field("类型", LICENSE_LABELS) is None
    assert Page([]).field("姓名", FRONT_LABELS) is None


@pytest.mark.parametrize(
    ("text", "multiplier", "expected"),
    [
        ("1,234,567.89", 1, 1234567.89),
        ("1，234，567.89", 1, 1234567.89),
        ("1.234.567.89", 1, 1234567.89),  # separators read as dots
        ("123.45", 10_000, 1234500.0),
        ("(1,000.00)", 1, -1000.0),
        ("-12.5万元", 1, -125000.0),
        ("88", 1, 88.0),
        ("资产总计", 1, None),
        ("", 1, None),
    ],
)
def test_parse_amount(text: str, multiplier: int, expected: float | None) -> None:
    assert parse_amount(text, multiplier) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("壹佰万元整", 1_000_000.0),
        ("叁拾万元整", 300_000.0),
        ("人民币伍仟零伍拾万元", 50_500_000.0),
        ("壹亿贰仟万元整", 120_000_000.0),
        ("200万元", 2_000_000.0),
        ("若干", None),
    ],
)
def test_parse_capitals(text: str, expected: float | None) -> None:
    assert parse_capitals(text) == expected


def test_credit_codes() -> None:
    assert uscc_ok("91350100M000100Y43")  # GB 32100's published example
    assert not uscc_ok("91350100M000100Y44")
    assert not uscc_ok("9135010OM000100Y43") and uscc_ok(normalize_uscc("9135010OM000100Y43"))
    rng = random.Random(3)
    for _ in range(50):
        assert uscc_ok(random_credit_code(rng))
        assert not uscc_ok(random_credit_code(rng, bad_checksum=True))
    with pytest.raises(ValueError, match="17 characters"):
        uscc_check_char("I" * 17)


def test_statement_needs_its_totals_and_honours_the_column_heading() -> None:
    boxes = [
        box("单位：万元", 900, 10, 1100, 40),
        box("2023年度", 600, 10, 800, 40),
        box("项目", 60, 60, 120, 90),
        box("上年金额", 500, 60, 650, 90),
        box("本年金额", 800, 60, 950, 90),
        box("一、营业收入", 60, 120, 220, 150),
        box("10.00", 520, 120, 640, 150),
        box("12.50", 820, 120, 940, 150),
    ]
    out = read_statement(Page(boxes), relative_tolerance=0.001, absolute_tolerance=1.0)
    assert out.items["revenue"].value == 125_000.0
    assert out.period_end == date(2023, 12, 31)
    assert {f.code for f in out.failures} == {"FIELD_MISSING"}
    assert out.balance.balanced is None


def test_workers_are_declared_and_run_through_the_sdk() -> None:
    engine = FakeEngine([box("签发机关", 10, 10, 90, 30), box("某县公安局", 100, 10, 200, 30)])
    workers = ocr_workers(OcrService(settings=OcrSettings(), engine=engine))
    topics = [definition_of(w).topic for w in workers]
    assert topics == ["ocr.id_card", "ocr.business_license", "ocr.financial_statement"]
    png = b64(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(BusinessError) as caught:
        run_worker(definition_of(workers[0]), {"image_base64": png, "tenant": "enshi"})
    assert caught.value.code == "OCR_BAD_IMAGE"
    from ocr.support import png_bomb  # a bomb is refused before the engine runs

    with pytest.raises(BusinessError):
        run_worker(definition_of(workers[0]), {"image_base64": b64(png_bomb(9000, 9000))})
    assert engine.calls == 0
    assert IdCardInput.model_json_schema()["properties"]["side"]["default"] == "auto"
