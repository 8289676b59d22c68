"""Helpers shared by the OCR tests (fixtures are in conftest.py)."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from PIL import Image

from loanflow.workers.ocr import (
    BusinessLicenseInput,
    BusinessLicenseOutput,
    FinancialStatementInput,
    FinancialStatementOutput,
    IdCardInput,
    IdCardOutput,
    OcrEngine,
    OcrService,
    TextBox,
)
from loanflow.workers.ocr.specimens import IdCardSpecimen, LicenseSpecimen, StatementSpecimen

APPLICATION_DATE = date(2024, 6, 1)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def jpeg(image: Image.Image, quality: int = 80) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A valid-looking PNG of a few hundred bytes that declares ``width`` x ``height``.

    Its IDAT holds one compressed row; a decoder that trusted the header would allocate
    the whole image first.
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    row = zlib.compress(b"\x00" * (width + 1), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


def box(text: str, x0: float, y0: float, x1: float, y1: float, score: float = 0.99) -> TextBox:
    return TextBox(text, score, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)))


class FakeEngine(OcrEngine):
    """Returns fixed boxes whatever the image; counts its calls."""

    def __init__(self, boxes: list[TextBox]) -> None:
        self.boxes = boxes
        self.calls = 0

    def read(self, image: Image.Image) -> list[TextBox]:
        self.calls += 1
        return list(self.boxes)


@dataclass(frozen=True)
class Specimens:
    """The session's documents: what each says, and its image bytes (PNG or JPEG)."""

    card: IdCardSpecimen
    bad_card: IdCardSpecimen
    expired_card: IdCardSpecimen
    license: LicenseSpecimen
    bad_license: LicenseSpecimen
    statement: StatementSpecimen
    unbalanced: StatementSpecimen
    images: dict[str, bytes]


class Reader:
    """Reads each specimen once per session; later calls return the same output."""

    def __init__(self, service: OcrService, specimens: Specimens) -> None:
        self.service = service
        self.specimens = specimens
        self._cache: dict[str, object] = {}

    def _once(self, key: str, read: Callable[[], object]) -> object:
        if key not in self._cache:
            self._cache[key] = read()
        return self._cache[key]

    def id_card(self, name: str) -> IdCardOutput:
        job = IdCardInput(
            image_base64=b64(self.specimens.images[name]), application_date=APPLICATION_DATE
        )
        result = self._once(name, lambda: self.service.read_id_card(job))
        assert isinstance(result, IdCardOutput)
        return result

    def license(self, name: str) -> BusinessLicenseOutput:
        job = BusinessLicenseInput(image_base64=b64(self.specimens.images[name]))
        result = self._once(name, lambda: self.service.read_business_license(job))
        assert isinstance(result, BusinessLicenseOutput)
        return result

    def statement(self, name: str) -> FinancialStatementOutput:
        job = FinancialStatementInput(image_base64=b64(self.specimens.images[name]))
        result = self._once(name, lambda: self.service.read_financial_statement(job))
        assert isinstance(result, FinancialStatementOutput)
        return result
