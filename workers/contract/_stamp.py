"""The visible part of a signature: a customer's signature box or the bank's round seal.

pyhanko draws stamp text with its own font engine (``GlyphAccumulatorFactory``), which
needs fontTools and HarfBuzz and subsets the whole 16 MB CJK font on every signature:
0.6–1 s each. Here the appearance is instead a small one-page PDF drawn by reportlab with
the font the contract already uses (parsed once per process, subset to the dozen glyphs
of the stamp), imported by pyhanko as a form XObject through :class:`StaticStampStyle`.
That costs a few milliseconds and gives full control of the look (text on an arc for
the seal).

Times are shown in Beijing time (UTC+8, no daylight saving), as a Chinese reader
expects; the signature itself carries the UTC instant.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from pyhanko.pdf_utils.content import PdfContent
from pyhanko.pdf_utils.layout import (
    AxisAlignment,
    BoxConstraints,
    InnerScaling,
    Margins,
    SimpleBoxLayoutRule,
)
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.stamp import StaticStampStyle
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from loanflow.workers.contract._fonts import REPORTLAB_LOCK

__all__ = ["BEIJING", "Stamp", "render_stamp", "stamp_style"]

BEIJING = timezone(timedelta(hours=8), "北京时间")
SEAL_RED = colors.Color(0.85, 0.1, 0.1)
_SEAL_SPAN = 220.0
"""Degrees of the circle the bank's name runs along, centred on the top."""


@dataclass(frozen=True)
class Stamp:
    """What a stamp shows."""

    kind: Literal["signature", "seal"]
    name: str
    """The signer: the customer's name, or the bank's full name around the seal."""
    caption: str
    """Under the name: "电子签名", or the seal's use such as "合同专用章"."""
    signed_at: datetime
    detail: str = ""
    """A last small line, e.g. the certificate's serial number."""


def _fit(text: str, font: str, size: float, width: float, smallest: float = 5.0) -> float:
    while size > smallest and stringWidth(text, font, size) > width:
        size -= 0.5
    return size


def _draw_signature(canvas: Canvas, stamp: Stamp, font: str, width: float, height: float) -> None:
    when = stamp.signed_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    canvas.setStrokeColor(SEAL_RED)
    canvas.setFillColor(SEAL_RED)
    canvas.setLineWidth(1)
    canvas.rect(1, 1, width - 2, height - 2)
    size = _fit(stamp.name, font, min(20.0, height * 0.36), width - 10)
    canvas.setFont(font, size)
    canvas.drawCentredString(width / 2, height - 6 - size, stamp.name)
    lines = [f"{stamp.caption}　{when}（北京时间）"]
    if stamp.detail:
        lines.append(stamp.detail)
    y = 6.0 + 9 * (len(lines) - 1)
    for line in lines:
        canvas.setFont(font, _fit(line, font, 7.5, width - 8))
        canvas.drawCentredString(width / 2, y, line)
        y -= 9


def _star(canvas: Canvas, cx: float, cy: float, radius: float) -> None:
    path = canvas.beginPath()
    for i in range(10):
        r = radius if i % 2 == 0 else radius * 0.382
        angle = math.radians(90 + i * 36)
        x, y = cx + r * math.cos(angle), cy + r * math.sin(angle)
        if i == 0:
            path.moveTo(x, y)
        else:
            path.lineTo(x, y)
    path.close()
    canvas.drawPath(path, stroke=0, fill=1)


def _draw_seal(canvas: Canvas, stamp: Stamp, font: str, width: float, height: float) -> None:
    cx, cy = width / 2, height / 2
    radius = min(width, height) / 2 - 2
    canvas.setStrokeColor(SEAL_RED)
    canvas.setFillColor(SEAL_RED)
    canvas.setLineWidth(max(1.5, radius / 22))
    canvas.circle(cx, cy, radius)
    name = stamp.name.replace(" ", "")
    count = max(len(name), 1)
    size = radius * 0.26
    while size > 5:
        text_radius = radius - size - radius * 0.07
        if size * 1.12 * count <= text_radius * math.radians(_SEAL_SPAN):
            break
        size -= 0.25
    text_radius = radius - size - radius * 0.07
    per_char = math.degrees(size * 1.12 / text_radius)
    span = min(_SEAL_SPAN, per_char * (count - 1))
    canvas.setFont(font, size)
    for i, char in enumerate(name):
        angle = 90 + span / 2 - (span / (count - 1) * i if count > 1 else 0)
        canvas.saveState()
        canvas.translate(cx, cy)
        canvas.rotate(angle - 90)
        canvas.drawCentredString(0, text_radius, char)
        canvas.restoreState()
    _star(canvas, cx, cy + radius * 0.05, radius * 0.3)
    caption_size = _fit(stamp.caption, font, radius * 0.19, radius * 1.0)
    canvas.setFont(font, caption_size)
    canvas.drawCentredString(cx, cy - radius * 0.45, stamp.caption)
    when = stamp.signed_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    canvas.setFont(font, _fit(when, font, radius * 0.12, radius * 0.9))
    canvas.drawCentredString(cx, cy - radius * 0.7, when)


def render_stamp(stamp: Stamp, width: float, height: float, font: str) -> bytes:
    """A one-page PDF of exactly ``width`` × ``height`` points showing ``stamp``."""
    buffer = io.BytesIO()
    with REPORTLAB_LOCK:
        canvas = Canvas(buffer, pagesize=(width, height), invariant=1, initialFontName=font)
        if stamp.kind == "seal":
            _draw_seal(canvas, stamp, font, width, height)
        else:
            _draw_signature(canvas, stamp, font, width, height)
        canvas.showPage()
        canvas.save()
    return buffer.getvalue()


class _ImportedStamp(PdfContent):
    """The first page of an in-memory PDF as content of the signature appearance."""

    def __init__(self, pdf: bytes) -> None:
        super().__init__()
        self._pdf = pdf

    def render(self) -> bytes:
        writer = self._ensure_writer
        xobject = writer.import_page_as_xobject(PdfFileReader(io.BytesIO(self._pdf)), page_ix=0)
        self.resources.xobject["/LoanflowStamp"] = xobject
        x1, y1, x2, y2 = xobject.get_object()["/BBox"]
        self.box = BoxConstraints(width=abs(x2 - x1), height=abs(y2 - y1))
        return b"/LoanflowStamp Do"


_EXACT = SimpleBoxLayoutRule(
    x_align=AxisAlignment.ALIGN_MID,
    y_align=AxisAlignment.ALIGN_MID,
    margins=Margins(),
    inner_content_scaling=InnerScaling.SHRINK_TO_FIT,
)


def stamp_style(stamp_pdf: bytes) -> StaticStampStyle:
    """A pyhanko stamp style that shows ``stamp_pdf`` (from :func:`render_stamp`) as is."""
    return StaticStampStyle(
        background=_ImportedStamp(stamp_pdf),
        background_layout=_EXACT,
        background_opacity=1.0,
        border_width=0,
    )
