"""ocr.id_card inside a process: the photo comes from the vault, the diagram branches on the
checks, and an unreadable upload is a BPMN error the diagram catches."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import assert_round_trip, diagram, registry
from ocr.support import APPLICATION_DATE, Specimens
from vault.support import TENANT, settings_for

from loanflow.engine import Engine
from loanflow.engine.runner import EmbeddedRunner
from loanflow.workers.ocr import OcrService, ocr_workers
from loanflow.workers.registry import WorkerRegistry
from loanflow.workers.vault import Vault


@pytest.fixture
def intake(engine: Engine, tmp_path: Path, ocr: OcrService) -> Vault:
    vault = Vault(engine, settings_for(tmp_path / "vault"))
    service = OcrService(vault, ocr.settings, engine=ocr.engine)
    engine.workers = WorkerRegistry([*registry(), *ocr_workers(service)])
    engine.deploy(diagram("id_card_intake.bpmn"), tenant=TENANT)
    return vault


def run(engine: Engine, document_id: str) -> tuple[str, dict[str, object]]:
    started = engine.start(
        TENANT,
        "id_card_intake",
        variables={"id_card_document": document_id, "application_date": str(APPLICATION_DATE)},
    )
    assert EmbeddedRunner(engine, worker_id="ocr-test").run_once() == 1
    assert_round_trip(engine, started.id)
    info = engine.get_instance(TENANT, started.id)
    assert info.state == "completed" and info.variables is not None
    return started.id, info.variables


def test_a_valid_card_is_read_from_the_vault_and_accepted(
    engine: Engine, intake: Vault, specimens: Specimens
) -> None:
    card = specimens.card
    stored = intake.store(
        TENANT, specimens.images["front"], kind="id_card", content_type="image/png"
    )
    _, data = run(engine, stored.id)
    read = data["id_card"]
    assert isinstance(read, dict)
    assert read["valid"] is True and read["failures"] == []
    assert read["fields"]["id_number"] == card.id_number
    assert read["fields"]["name"] == card.name


def test_a_card_with_a_bad_checksum_goes_to_the_officer(
    engine: Engine, intake: Vault, specimens: Specimens
) -> None:
    stored = intake.store(
        TENANT, specimens.images["bad_front"], kind="id_card", content_type="image/png"
    )
    _, data = run(engine, stored.id)
    read = data["id_card"]
    assert isinstance(read, dict) and read["valid"] is False
    assert "ID_CHECKSUM" in {f["code"] for f in read["failures"]}


def test_an_upload_that_is_no_image_is_caught_by_the_diagram(engine: Engine, intake: Vault) -> None:
    stored = intake.store(TENANT, b"%PDF-not really", kind="id_card", content_type="image/png")
    started = engine.start(
        TENANT,
        "id_card_intake",
        variables={"id_card_document": stored.id, "application_date": str(APPLICATION_DATE)},
    )
    EmbeddedRunner(engine, worker_id="ocr-test").run_once()
    info = engine.get_instance(TENANT, started.id)
    assert info.state == "completed"
    assert engine.incidents(TENANT) == []
    assert info.variables is not None and "id_card" not in info.variables
