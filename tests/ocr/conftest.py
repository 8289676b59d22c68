"""OCR fixtures: one engine and one small specimen set for the whole session.

Loading the models and reading an image cost about a second each, so the specimens are
rendered once, every image is read at most once (:class:`Reader` memoizes results), and
all tests share the process's engine. Without the CJK font the OCR tests skip, unless
CI=true, where that is a broken machine and fails.
"""

from __future__ import annotations

import os
import random
from dataclasses import replace

import pytest
from ocr.support import APPLICATION_DATE, Reader, Specimens, jpeg

from loanflow.workers.ocr import OcrService
from loanflow.workers.ocr.specimens import (
    DEFAULT_FONT_PATH,
    degrade,
    random_id_card,
    random_license,
    random_statement,
    render_id_back,
    render_id_front,
    render_license,
    render_statement,
    to_png,
)


@pytest.fixture(scope="session")
def font() -> None:
    if not DEFAULT_FONT_PATH.is_file():
        message = f"the CJK font {DEFAULT_FONT_PATH} is missing (Debian: fonts-wqy-zenhei)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " and CI=true")
        pytest.skip(message)


@pytest.fixture(scope="session")
def ocr(font: None) -> OcrService:
    """A service without a vault, on the process's shared RapidOCR engine."""
    return OcrService()


@pytest.fixture(scope="session")
def specimens(font: None) -> Specimens:
    rng = random.Random(20240601)
    card = random_id_card(rng)
    while card.valid_until is None or card.valid_until <= APPLICATION_DATE:
        card = random_id_card(rng)
    bad_card = random_id_card(rng, bad_checksum=True)
    expired = random_id_card(rng, expired_on=APPLICATION_DATE)
    lic, bad_lic = random_license(rng), random_license(rng, bad_checksum=True)
    statement = random_statement(rng, unit="万元")
    unbalanced = random_statement(rng, unbalanced=True, unit="元")
    # the printed birth date and sex disagree with the (valid) number
    other_sex = "女" if card.sex == "男" else "男"
    born = card.birth_date
    mismatched = replace(card, birth_date=born.replace(day=born.day % 27 + 1), sex=other_sex)
    images = {
        "front": to_png(render_id_front(card, 856)),
        "back": to_png(render_id_back(card, 640)),
        "front_noisy": jpeg(degrade(render_id_front(card, 1000), rng, scale=0.8)),
        "back_noisy": jpeg(degrade(render_id_back(card, 856), rng, scale=0.9)),
        "bad_front": to_png(render_id_front(bad_card, 700)),
        "mismatch_front": to_png(render_id_front(mismatched, 856)),
        "expired_back": to_png(render_id_back(expired, 856)),
        "license": to_png(render_license(lic, 1400)),
        "license_noisy": jpeg(degrade(render_license(lic, 1400), rng, scale=0.8)),
        "bad_license": to_png(render_license(bad_lic, 1000)),
        "statement": to_png(render_statement(statement, 1200)),
        "statement_noisy": jpeg(degrade(render_statement(statement, 1200), rng, scale=0.8)),
        "unbalanced": to_png(render_statement(unbalanced, 1000)),
    }
    return Specimens(card, bad_card, expired, lic, bad_lic, statement, unbalanced, images)


@pytest.fixture(scope="session")
def reader(ocr: OcrService, specimens: Specimens) -> Reader:
    return Reader(ocr, specimens)
