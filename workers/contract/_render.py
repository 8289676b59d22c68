"""Rendering a loan contract to PDF with reportlab.

The PDF is a pure function of the input: reportlab's invariant mode, a creation date taken
from the signing date, no random names. The same request gives the same bytes, so a hash
of the unsigned contract means something (and a re-render after a crash is the same
document). It holds the parties, the amount in figures and in capitals, rate, term, the
template's clauses, a signature block with two empty signature fields for pyhanko to fill
(``customer`` and ``bank_seal``), and the repayment schedule as an appendix; every page
carries the contract number and "第 n 页 共 N 页". The CJK font is embedded as a subset.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.enums import TA_CENTER, TA_RIGHT  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfdoc import (  # type: ignore[import-untyped]
    PDFArray,
    PDFDictionary,
    PDFName,
    PDFString,
)
from reportlab.platypus import (  # type: ignore[import-untyped]
    Flowable,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from loanflow.workers._pdf import numbered_canvas
from loanflow.workers.builtin.calc import (
    RepaymentScheduleInput,
    RepaymentScheduleOutput,
    add_months,
    repayment_schedule,
)
from loanflow.workers.builtin.identity import mask_id_number
from loanflow.workers.contract._amounts import chinese_numeral, to_chinese_capitals
from loanflow.workers.contract._digests import sha256_hex, sm3_hex
from loanflow.workers.contract._errors import RenderError
from loanflow.workers.contract._fonts import DEFAULT_FONT_PATH, REPORTLAB_LOCK, cjk_font
from loanflow.workers.contract._templates import ContractTemplate

__all__ = [
    "CUSTOMER_FIELD",
    "SEAL_FIELD",
    "Borrower",
    "ContractRequest",
    "Guarantor",
    "Lender",
    "RenderedContract",
    "render_contract",
]

log = logging.getLogger(__name__)

CUSTOMER_FIELD: Final = "customer"
SEAL_FIELD: Final = "bank_seal"
METHOD_NAMES = {"equal_installment": "等额本息", "equal_principal": "等额本金"}

_CUSTOMER_BOX = (170.0, 64.0)
_SEAL_BOX = (118.0, 118.0)


class Lender(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=100, description="The bank as it signs, 全称.")
    address: str | None = Field(default=None, max_length=200)


class Borrower(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=100)
    id_number: str = Field(
        min_length=1, max_length=64, repr=False, description="Printed in full; masked in logs."
    )
    address: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32, repr=False)


class Guarantor(Borrower):
    role: Literal["guarantor", "co_borrower"] = Field(
        default="guarantor", description="保证人 or 共同借款人."
    )


class ContractRequest(BaseModel):
    """Everything a loan contract says; the input of ``contract.render``."""

    contract_number: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    tenant: str = Field(min_length=1, max_length=64)
    product: str = Field(default="personal_loan", min_length=1, max_length=64)
    lender: Lender
    borrower: Borrower
    guarantors: list[Guarantor] = Field(default_factory=list, max_length=10)
    amount: Decimal = Field(
        gt=0, le=1_000_000_000, decimal_places=2, allow_inf_nan=False, description="Yuan."
    )
    annual_rate: Decimal = Field(
        ge=0, lt=1, decimal_places=6, allow_inf_nan=False, description="0.0435 for 4.35%."
    )
    months: int = Field(ge=1, le=360)
    method: Literal["equal_installment", "equal_principal"] = "equal_installment"
    start_date: date
    signing_city: str = Field(min_length=1, max_length=50)
    signing_date: date
    purpose: str | None = Field(
        default=None, max_length=200, description="借款用途; the template's when absent."
    )
    instance_id: str | None = Field(default=None, max_length=36)


@dataclass(frozen=True)
class RenderedContract:
    pdf: bytes
    pages: int
    sha256: str
    sm3: str
    template_id: str
    template_version: int


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def rate_percent(rate: Decimal) -> str:
    """0.0435 → "4.35%", 0.04 → "4.00%", 0.043875 → "4.3875%"."""
    percent = (rate * 100).normalize()
    text = format(percent, "f")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}%"


def _money(value: float | Decimal) -> str:
    return f"{value:,.2f}"


def _add_signature_field(canvas: Any, name: str, x: float, y: float, w: float, h: float) -> None:
    """An empty, printable signature field (widget and field in one dictionary)."""
    left, bottom = canvas.absolutePosition(x, y)
    field = PDFDictionary(
        {
            "Type": PDFName("Annot"),
            "Subtype": PDFName("Widget"),
            "FT": PDFName("Sig"),
            "T": PDFString(name),
            "F": 4,
            "Rect": PDFArray([round(v, 2) for v in (left, bottom, left + w, bottom + h)]),
        }
    )
    canvas._addAnnotation(field)
    form = canvas.acroForm
    form.fields.append(form.getRef(field))


class _SignatureBlock(Flowable):  # type: ignore[misc]
    """甲方 with the seal field on the left, 乙方 with the signature field on the right,
    guarantors' lines below, then place and date of signing."""

    def __init__(
        self, style: ParagraphStyle, lender: str, borrower: str, others: list[str], footer: str
    ) -> None:
        super().__init__()
        self.style = style
        self.labels = [
            Paragraph(_escape(f"甲方（盖章）：{lender}"), style),
            Paragraph(_escape(f"乙方（签名）：{borrower}"), style),
        ]
        self.lines = [Paragraph(_escape(line), style) for line in [*others, footer]]
        self.width = self.height = self.label_height = 0.0

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        self.width = available_width
        column = available_width / 2 - 12
        self.label_height = max(p.wrap(column, available_height)[1] for p in self.labels)
        lines = sum(p.wrap(available_width, available_height)[1] + 4 for p in self.lines)
        self.height = self.label_height + 8 + _SEAL_BOX[1] + 10 + lines
        return available_width, self.height

    def draw(self) -> None:
        canvas = self.canv
        half = self.width / 2
        top = self.height
        for x, label in zip((0.0, half), self.labels, strict=True):
            label.drawOn(canvas, x, top - label.height)
        box_top = top - self.label_height - 8
        seal_y = box_top - _SEAL_BOX[1]
        customer_y = box_top - _CUSTOMER_BOX[1]
        canvas.saveState()
        canvas.setStrokeColor(colors.lightgrey)
        canvas.setDash(2, 2)
        canvas.rect(20, seal_y, *_SEAL_BOX)
        canvas.rect(half + 20, customer_y, *_CUSTOMER_BOX)
        canvas.restoreState()
        _add_signature_field(canvas, SEAL_FIELD, 20, seal_y, *_SEAL_BOX)
        _add_signature_field(canvas, CUSTOMER_FIELD, half + 20, customer_y, *_CUSTOMER_BOX)
        y = seal_y - 10
        for line in self.lines:
            y -= line.height
            line.drawOn(canvas, 0, y)
            y -= 4


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle(
        "body", fontName=font, fontSize=10.5, leading=17, wordWrap="CJK", firstLineIndent=21
    )
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=26, alignment=TA_CENTER,
                                firstLineIndent=0, spaceAfter=6),
        "number": ParagraphStyle("number", parent=base, alignment=TA_RIGHT, firstLineIndent=0),
        "party": ParagraphStyle("party", parent=base, firstLineIndent=0, leading=16),
        "heading": ParagraphStyle("heading", parent=base, fontSize=11.5, leading=20,
                                  firstLineIndent=0, spaceBefore=6),
        "body": base,
        "appendix": ParagraphStyle("appendix", parent=base, fontSize=14, leading=22,
                                   alignment=TA_CENTER, firstLineIndent=0, spaceAfter=6),
    }  # fmt: skip


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _schedule(request: ContractRequest) -> RepaymentScheduleOutput:
    return repayment_schedule(
        RepaymentScheduleInput(
            principal=request.amount,
            annual_rate=float(request.annual_rate),
            months=request.months,
            method=request.method,
            start_date=request.start_date,
        )
    )


def _values(request: ContractRequest, template: ContractTemplate) -> Mapping[str, str]:
    return {
        "lender": request.lender.name,
        "borrower": request.borrower.name,
        "guarantors": "、".join(g.name for g in request.guarantors),
        "contract_number": request.contract_number,
        "product": request.product,
        "amount_figures": "¥" + _money(request.amount),
        "amount_capitals": to_chinese_capitals(request.amount),
        "purpose": request.purpose or template.purpose,
        "months": str(request.months),
        "start_date": chinese_date(request.start_date),
        "end_date": chinese_date(add_months(request.start_date, request.months)),
        "rate_percent": rate_percent(request.annual_rate),
        "method_name": METHOD_NAMES[request.method],
        "signing_city": request.signing_city,
        "signing_date": chinese_date(request.signing_date),
    }


def _party_lines(request: ContractRequest) -> list[str]:
    def person(label: str, who: Borrower) -> str:
        line = f"{label}：{who.name}　身份证号码：{who.id_number}"
        return line + (f"　住址：{who.address}" if who.address else "")

    lender = f"贷款人（甲方）：{request.lender.name}"
    if request.lender.address:
        lender += f"　住所：{request.lender.address}"
    lines = [lender, person("借款人（乙方）", request.borrower)]
    for guarantor in request.guarantors:
        label = "共同借款人" if guarantor.role == "co_borrower" else "保证人"
        lines.append(person(f"{label}（丙方）", guarantor))
    return lines


def _schedule_table(font: str, schedule: RepaymentScheduleOutput) -> Table:
    header = ["期次", "还款日", "应还本息（元）", "其中本金", "其中利息", "剩余本金"]
    rows: list[list[str]] = [header]
    for period in schedule.schedule:
        rows.append(
            [
                str(period.period),
                period.due_date.isoformat() if period.due_date else "",
                _money(period.payment),
                _money(period.principal),
                _money(period.interest),
                _money(period.remaining),
            ]
        )
    rows.append(
        ["合计", "", _money(schedule.total_payment), "", _money(schedule.total_interest), ""]
    )
    table = Table(rows, repeatRows=1, colWidths=[14 * mm, 26 * mm] + [32 * mm] * 4)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), font, 8.5),
                ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
                ("ALIGN", (0, 0), (1, -1), "CENTER"),
                ("ALIGN", (0, 0), (-1, 0), "CENTER"),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#EEEEEE")),
                ("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#F6F6F6")),
            ]
        )
    )
    return table


def render_contract(
    request: ContractRequest,
    template: ContractTemplate,
    *,
    font_path: Path = DEFAULT_FONT_PATH,
    subfont_index: int = 0,
) -> RenderedContract:
    """The contract PDF of ``request`` in ``template``; identical input, identical bytes.

    :class:`RenderError` when the font is missing or a template text cannot be filled.
    """
    font = cjk_font(font_path, subfont_index)
    styles = _styles(font)
    values = _values(request, template)
    has_others = bool(request.guarantors)
    schedule = _schedule(request)

    story: list[Any] = [
        Paragraph(_escape(template.title), styles["title"]),
        Paragraph(_escape(f"合同编号：{request.contract_number}"), styles["number"]),
        Spacer(1, 4 * mm),
    ]
    story += [Paragraph(_escape(line), styles["party"]) for line in _party_lines(request)]
    story.append(Spacer(1, 3 * mm))
    for line in template.fill(template.preamble, values).splitlines():
        if line.strip():
            story.append(Paragraph(_escape(line), styles["body"]))
    clauses = [c for c in template.clauses if c.when == "always" or has_others]
    for number, clause in enumerate(clauses, start=1):
        heading = f"第{chinese_numeral(number)}条　{clause.heading}"
        story.append(Paragraph(_escape(heading), styles["heading"]))
        story.append(Paragraph(_escape(template.fill(clause.text, values)), styles["body"]))
    others = [
        f"{'共同借款人' if g.role == 'co_borrower' else '保证人'}（丙方，签名）：{g.name}"
        for g in request.guarantors
    ]
    place = f"签订地点：{request.signing_city}　　签订日期：{values['signing_date']}"
    story += [
        Spacer(1, 8 * mm),
        KeepTogether(
            _SignatureBlock(
                styles["party"], request.lender.name, request.borrower.name, others, place
            )
        ),
        PageBreak(),
        Paragraph("附件：还款计划表", styles["appendix"]),
        Paragraph(
            _escape(
                f"借款金额：¥{_money(request.amount)}　年利率：{values['rate_percent']}　"
                f"期限：{request.months}个月　还款方式：{values['method_name']}"
            ),
            styles["party"],
        ),
        Spacer(1, 3 * mm),
        _schedule_table(font, schedule),
    ]

    created = datetime.combine(request.signing_date, datetime.min.time(), tzinfo=UTC)
    footer = f"{template.title}　合同编号：{request.contract_number}"
    canvas_class = numbered_canvas(font, footer, 20 * mm, created)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        invariant=1,
        initialFontName=font,
        title=f"{template.title} {request.contract_number}",
        author=request.lender.name,
        subject=request.contract_number,
        creator="loanflow",
    )
    with REPORTLAB_LOCK:
        try:
            doc.build(story, canvasmaker=canvas_class)
        except RenderError:
            raise
        except Exception as exc:
            raise RenderError(f"contract {request.contract_number}: layout failed: {exc}") from exc
        page_count = int(doc.canv.page_count)
    pdf = buffer.getvalue()
    log.info(
        "rendered contract %s (template %s v%s) for borrower %s: %s pages, %s bytes",
        request.contract_number,
        template.id,
        template.version,
        mask_id_number(request.borrower.id_number),
        page_count,
        len(pdf),
    )
    return RenderedContract(
        pdf=pdf,
        pages=page_count,
        sha256=sha256_hex(pdf),
        sm3=sm3_hex(pdf),
        template_id=template.id,
        template_version=template.version,
    )
