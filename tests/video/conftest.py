"""Video fixtures: a SQLite engine with the vault and a video service whose peers stay on
loopback (aioice offers no 127.0.0.1 host candidate on its own: the tests make it offer
only that, so no check ever goes to another address)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import aioice.ice
import pytest
from factories import registry
from video.support import build_service

from loanflow.engine import Engine, EngineSettings, ManualClock
from loanflow.workers.video import VideoService


@pytest.fixture
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


@pytest.fixture
def sqlite_engine(tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    target = tmp_path / "video.sqlite3"
    shutil.copy(sqlite_template, target)
    built = Engine(
        EngineSettings(database_url=f"sqlite:///{target}"), workers=registry(), clock=ManualClock()
    )
    yield built
    built.close()


@pytest.fixture
def service(sqlite_engine: Engine, tmp_path: Path, loopback_ice: None) -> Iterator[VideoService]:
    built = build_service(sqlite_engine, tmp_path)
    yield built
    built.close()
