"""Offline OCR of loan documents: resident ID cards, business licences, financial statements.

:class:`OcrService` reads a PNG, JPEG or PDF page from the vault (or inline base64) with
RapidOCR's bundled PP-OCRv4 Chinese models (loaded once per process, nothing downloaded),
extracts fields by label and position, and checks them:

- :meth:`OcrService.read_id_card` / worker ``ocr.id_card``: name, sex, ethnicity, birth
  date, address, number (GB 11643 check digit, agreement with the printed birth date and
  sex); issuing authority and validity period on the back (``ID_EXPIRED``);
- :meth:`OcrService.read_business_license` / ``ocr.business_license``: the licence's
  fields, the credit code checked with GB 32100 (:func:`uscc_ok`);
- :meth:`OcrService.read_financial_statement` / ``ocr.financial_statement``: totals in
  yuan (separators, 万元 units), period, assets = liabilities + equity.

:func:`ocr_workers` makes the workers for a service. The ``specimens`` functions render
synthetic documents (invented people and companies) for tests, the accuracy bench and
demos.
"""

from loanflow.workers.ocr._amounts import parse_amount, parse_capitals
from loanflow.workers.ocr._engine import (
    OcrEngine,
    RapidOcrEngine,
    TextBox,
    reset_shared_engine,
    shared_engine,
)
from loanflow.workers.ocr._images import BAD_IMAGE, PAGE_NOT_FOUND, TOO_LARGE, decode_image
from loanflow.workers.ocr._layout import Page
from loanflow.workers.ocr._license import normalize_uscc, uscc_check_char, uscc_ok
from loanflow.workers.ocr._models import (
    BalanceCheck,
    BusinessLicenseInput,
    BusinessLicenseOutput,
    Failure,
    FinancialStatementInput,
    FinancialStatementOutput,
    IdCardInput,
    IdCardOutput,
    OcrField,
    OcrInput,
    StatementItem,
)
from loanflow.workers.ocr._service import DOCUMENT_NOT_FOUND, VALIDATION_FAILED, OcrService
from loanflow.workers.ocr._settings import OcrSettings
from loanflow.workers.ocr._workers import ocr_workers

__all__ = [
    "BAD_IMAGE",
    "DOCUMENT_NOT_FOUND",
    "PAGE_NOT_FOUND",
    "TOO_LARGE",
    "VALIDATION_FAILED",
    "BalanceCheck",
    "BusinessLicenseInput",
    "BusinessLicenseOutput",
    "Failure",
    "FinancialStatementInput",
    "FinancialStatementOutput",
    "IdCardInput",
    "IdCardOutput",
    "OcrEngine",
    "OcrField",
    "OcrInput",
    "OcrService",
    "OcrSettings",
    "Page",
    "RapidOcrEngine",
    "StatementItem",
    "TextBox",
    "decode_image",
    "normalize_uscc",
    "ocr_workers",
    "parse_amount",
    "parse_capitals",
    "reset_shared_engine",
    "shared_engine",
    "uscc_check_char",
    "uscc_ok",
]
