"""The ``ocr.*`` workers, bound to one :class:`OcrService`.

Reading from the vault needs a :class:`Vault`, so the workers are made around a service
rather than declared at module level (pattern of ``contract_workers``)::

    service = OcrService(vault, OcrSettings())
    registry = WorkerRegistry([*BUILTIN_WORKERS, *ocr_workers(service)])

Bad input (not an image, too large, a decompression bomb, an unknown document) raises a
``BusinessError`` (``OCR_BAD_IMAGE``, ``OCR_IMAGE_TOO_LARGE``, ``OCR_PAGE_NOT_FOUND``,
``OCR_DOCUMENT_NOT_FOUND``) that the diagram can catch; with ``strict``, failed checks
raise ``OCR_VALIDATION_FAILED``. OCR is CPU-bound and a retry reads the same pixels, so
retries are few.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loanflow.workers.ocr._models import (
    BusinessLicenseInput,
    BusinessLicenseOutput,
    FinancialStatementInput,
    FinancialStatementOutput,
    IdCardInput,
    IdCardOutput,
)
from loanflow.workers.ocr._service import OcrService
from loanflow.workers.sdk import worker

__all__ = ["ocr_workers"]


def ocr_workers(service: OcrService) -> list[Callable[..., Any]]:
    """``ocr.id_card``, ``ocr.business_license`` and ``ocr.financial_statement`` on ``service``."""

    @worker("ocr.id_card", retries=1, backoff=5.0, lock_seconds=120.0)
    def read_id_card(job: IdCardInput) -> IdCardOutput:
        """Read either side of a resident ID card and check the number, birth date, sex, expiry."""
        return service.read_id_card(job)

    @worker("ocr.business_license", retries=1, backoff=5.0, lock_seconds=120.0)
    def read_business_license(job: BusinessLicenseInput) -> BusinessLicenseOutput:
        """Read a business licence and check its unified social credit code (GB 32100)."""
        return service.read_business_license(job)

    @worker("ocr.financial_statement", retries=1, backoff=5.0, lock_seconds=120.0)
    def read_financial_statement(job: FinancialStatementInput) -> FinancialStatementOutput:
        """Read balance sheet and income statement totals and check that assets balance."""
        return service.read_financial_statement(job)

    return [read_id_card, read_business_license, read_financial_statement]
