"""Business licences and financial statements: fields, amounts and their checks.

A licence's credit code is checked with GB 32100 (:mod:`loanflow.workers.ocr._license`).
A statement's line items are matched by their caption (without numbering such as
``一、`` or ``加：`` and without parenthesised alternatives such as ``（或股东权益）``),
read from the amount column under the ``期末余额`` / ``本期金额`` heading when there is
one, multiplied by the page's unit, and the balance-sheet identity is checked.
"""

from __future__ import annotations

import re
from datetime import date

from loanflow.workers.ocr._amounts import parse_amount, parse_capitals, unit_multiplier
from loanflow.workers.ocr._idcard import ocr_field, parse_date
from loanflow.workers.ocr._layout import Item, Page
from loanflow.workers.ocr._license import normalize_uscc, uscc_ok
from loanflow.workers.ocr._models import (
    BalanceCheck,
    BusinessLicenseOutput,
    Failure,
    FinancialStatementOutput,
    OcrField,
    StatementItem,
)

__all__ = ["LICENSE_LABELS", "STATEMENT_ITEMS", "read_license", "read_statement"]

LICENSE_LABELS = (
    "统一社会信用代码",
    "名称",
    "类型",
    "法定代表人",
    "负责人",
    "经营者",
    "注册资本",
    "成立日期",
    "注册日期",
    "营业期限",
    "住所",
    "经营场所",
    "经营范围",
    "登记机关",
)
_CODE = re.compile(r"[0-9A-Z]{18}")

STATEMENT_ITEMS: dict[str, tuple[str, ...]] = {
    "current_assets": ("流动资产合计",),
    "non_current_assets": ("非流动资产合计",),
    "total_assets": ("资产总计", "资产合计", "资产总额"),
    "current_liabilities": ("流动负债合计",),
    "non_current_liabilities": ("非流动负债合计",),
    "total_liabilities": ("负债合计", "负债总计", "负债总额"),
    "owners_equity": ("所有者权益合计", "股东权益合计", "所有者权益总计", "净资产合计"),
    "liabilities_and_equity": ("负债和所有者权益总计", "负债和股东权益总计"),
    "revenue": ("营业收入", "营业总收入", "主营业务收入"),
    "operating_cost": ("营业成本", "主营业务成本"),
    "operating_profit": ("营业利润",),
    "total_profit": ("利润总额",),
    "net_profit": ("净利润",),
}
_CAPTION_PREFIX = re.compile(r"^(?:[一二三四五六七八九十]+、|\d+[.、]|加：|减：|其中：)+")
_PARENTHESES = re.compile(r"（[^）]*）|【|】")
_COLUMN_HEADINGS = ("期末余额", "期末数", "本期金额", "本年累计", "本年金额", "本期数")


def _failure(code: str, field: str, message: str) -> Failure:
    return Failure(code=code, field=field, message=message)


def read_license(page: Page, *, min_confidence: float) -> BusinessLicenseOutput:
    """The licence's fields; USCC_FORMAT / USCC_CHECKSUM / FIELD_MISSING failures."""
    out = BusinessLicenseOutput()
    labels = LICENSE_LABELS
    out.company_name = ocr_field(page.field("名称", labels))
    out.company_type = ocr_field(page.field("类型", labels))
    out.legal_representative = ocr_field(page.field(("法定代表人", "负责人", "经营者"), labels))
    capital = page.field("注册资本", labels)
    out.registered_capital = ocr_field(capital)
    if capital is not None:
        out.registered_capital_yuan = parse_capitals(capital.text)
    established = page.field(("成立日期", "注册日期"), labels)
    day = parse_date(established.text) if established else None
    out.established = ocr_field(established, day.isoformat() if day else "")
    out.address = ocr_field(page.field(("住所", "经营场所"), labels, max_lines=4))
    out.business_scope = ocr_field(page.field("经营范围", labels, max_lines=10))

    code = page.field("统一社会信用代码", labels)
    found = _CODE.search(normalize_uscc(code.text)) if code else None
    if found is None:  # label unread: any 18-character code on the page
        for line in page.lines:
            found = next(
                (m for i in line.items if (m := _CODE.search(normalize_uscc(i.text)))), None
            )
            if found:
                score = next(i.score for i in line.items if found.group() in normalize_uscc(i.text))
                out.credit_code = OcrField(value=found.group(), confidence=round(score, 4))
                break
    elif code is not None:
        out.credit_code = OcrField(value=found.group(), confidence=round(code.confidence, 4))

    names = (
        "company_name",
        "credit_code",
        "legal_representative",
        "registered_capital",
        "established",
        "address",
        "business_scope",
    )
    for name in names:
        if getattr(out, name).value is None:
            out.failures.append(_failure("FIELD_MISSING", name, f"{name} could not be read"))
    value = out.credit_code.value
    if value is not None and not uscc_ok(value):
        if any(c in "IOZSV" for c in value) or not value.isalnum():
            out.failures.append(_failure("USCC_FORMAT", "credit_code", "not a credit code"))
        else:
            out.failures.append(
                _failure(
                    "USCC_CHECKSUM",
                    "credit_code",
                    f"the check character of {value} is wrong (GB 32100)",
                )
            )
    for name in names:
        field: OcrField = getattr(out, name)
        if field.value is not None and field.confidence < min_confidence:
            out.failures.append(
                _failure("LOW_CONFIDENCE", name, f"{name} read with low confidence")
            )
    return out


def _caption(items: list[Item]) -> str:
    text = "".join(i.text for i in items if parse_amount(i.text) is None)
    text = _PARENTHESES.sub("", text)
    text = _CAPTION_PREFIX.sub("", text)
    return re.sub(r"[\d:：.、]+$", "", text)  # trailing 行次 (row number) or colon


def _amount_column(page: Page) -> tuple[float, float] | None:
    for line in page.lines:
        for item in line.items:
            if any(h in item.text for h in _COLUMN_HEADINGS):
                return item.x0, item.x1
    return None


def _period(page: Page) -> tuple[OcrField, date | None]:
    for line in page.lines:
        for item in line.items:
            match = re.search(r"(\d{4})年(?:(\d{1,2})月(\d{1,2})日|度)", item.text)
            if match:
                value = OcrField(value=match.group(), confidence=round(item.score, 4))
                if match[2]:
                    return value, parse_date(match.group())
                return value, date(int(match[1]), 12, 31)
    return OcrField(), None


def read_statement(
    page: Page, *, relative_tolerance: float, absolute_tolerance: float
) -> FinancialStatementOutput:
    """Line items in yuan, the period, and the assets = liabilities + equity check."""
    multiplier = unit_multiplier(page.text)
    unit = {1: "元", 1_000: "千元", 10_000: "万元", 100_000_000: "亿元"}[multiplier]
    period, period_end = _period(page)
    out = FinancialStatementOutput(unit=unit, period=period, period_end=period_end)
    column = _amount_column(page)
    by_caption = {alias: key for key, aliases in STATEMENT_ITEMS.items() for alias in aliases}
    for line in page.lines:
        key = by_caption.get(_caption(line.items))
        if key is None or key in out.items:
            continue
        numbers = [(i, parse_amount(i.text, multiplier)) for i in line.items]
        amounts = [(i, v) for i, v in numbers if v is not None]
        if not amounts:
            continue
        if column is not None:
            centre = (column[0] + column[1]) / 2
            item, value = min(amounts, key=lambda pair: abs(pair[0].cx - centre))
        else:
            item, value = amounts[0]
        out.items[key] = StatementItem(
            value=value, confidence=round(item.score, 4), label=_caption(line.items)
        )
    _balance(out, relative_tolerance, absolute_tolerance)
    out.fields = {key: item.value for key, item in out.items.items()}
    out.fields["period_end"] = period_end.isoformat() if period_end else None
    out.fields["unit"] = unit
    return out


def _balance(out: FinancialStatementOutput, relative: float, absolute: float) -> None:
    get = out.items.get
    assets, liabilities, equity = (
        get("total_assets"),
        get("total_liabilities"),
        get("owners_equity"),
    )
    for key, item in (("total_assets", assets), ("total_liabilities", liabilities)):
        if item is None:
            out.failures.append(_failure("FIELD_MISSING", key, f"{key} could not be read"))
    if equity is None:
        out.failures.append(_failure("FIELD_MISSING", "owners_equity", "equity could not be read"))
    if assets is None or liabilities is None or equity is None:
        return
    total = round(liabilities.value + equity.value, 2)
    difference = round(assets.value - total, 2)
    tolerance = round(max(absolute, relative * abs(assets.value)), 2)
    balanced = abs(difference) <= tolerance
    out.balance = BalanceCheck(
        total_assets=assets.value,
        liabilities_plus_equity=total,
        difference=difference,
        tolerance=tolerance,
        balanced=balanced,
    )
    if not balanced:
        out.failures.append(
            _failure(
                "STATEMENT_UNBALANCED",
                "total_assets",
                f"total assets {assets.value:,.2f} differ from liabilities plus equity "
                f"{total:,.2f} by {difference:,.2f} (tolerance {tolerance:,.2f})",
            )
        )
