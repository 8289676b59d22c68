"""``loanflow keys``, mounted the way the lead will mount it, on a SQLite file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result
from vault.support import MASTER_KEY, TENANT

from loanflow.engine.cli._common import _options
from loanflow.workers.vault.cli import keys_app

app = typer.Typer()
app.callback()(_options)
app.add_typer(keys_app, name="keys")


@pytest.fixture
def db(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("LOANFLOW_DEMO", "LOANFLOW_VAULT_DEMO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOANFLOW_VAULT_MASTER_KEY", MASTER_KEY)
    target = tmp_path / "cli.sqlite3"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


def keys(db: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["--database-url", db, "keys", *args])


def test_create_rotate_list(db: str) -> None:
    created = keys(db, "create", "--tenant", TENANT, "--json")
    assert created.exit_code == 0, created.output
    first = json.loads(created.stdout)[0]
    assert first["active"]
    assert first["public_key"].startswith("04")

    again = keys(db, "create", "--tenant", TENANT)
    assert again.exit_code == 1
    assert "already has the active vault key" in again.output

    rotated = keys(db, "rotate", "-t", TENANT, "--json")
    assert rotated.exit_code == 0, rotated.output
    second = json.loads(rotated.stdout)[0]

    listed = keys(db, "list", "--tenant", TENANT, "--json")
    assert [(k["id"], k["active"]) for k in json.loads(listed.stdout)] == [
        (first["id"], False),
        (second["id"], True),
    ]
    table = keys(db, "list", "--tenant", TENANT)
    assert table.exit_code == 0
    assert "retired" in table.stdout
    assert "active" in table.stdout
    assert "no vault keys" in keys(db, "list", "--tenant", "lichuan").stdout


def test_refuses_without_a_master_key(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOANFLOW_VAULT_MASTER_KEY")
    result = keys(db, "create", "--tenant", TENANT)
    assert result.exit_code == 2
    assert "LOANFLOW_VAULT_MASTER_KEY must be set" in result.output


def test_bad_tenant(db: str) -> None:
    result = keys(db, "create", "--tenant", "Not Valid")
    assert result.exit_code == 1
    assert "not a tenant id" in result.output
