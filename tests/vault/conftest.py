"""Vault fixtures: a vault on the test database with its blobs under ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import diagram
from vault.support import TENANT, settings_for

from loanflow.engine import Engine
from loanflow.workers.vault import Vault, VaultSettings


@pytest.fixture
def vault_settings(tmp_path: Path) -> VaultSettings:
    return settings_for(tmp_path / "vault")


@pytest.fixture
def vault(engine: Engine, vault_settings: VaultSettings) -> Vault:
    return Vault(engine, vault_settings)


@pytest.fixture
def instance_id(engine: Engine) -> str:
    """A running loan application of TENANT (waiting at its service task)."""
    engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant=TENANT)
    return engine.start(TENANT, "basic_loan", variables={"amount": 1000, "term": 6}).id
