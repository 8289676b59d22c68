"""A 200 MB document streams through store and open with bounded memory."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("stream_child.py")
MEGABYTES = 200
MAX_GROWTH_KIB = 100 * 1024


@pytest.mark.slow
def test_200_mb_streams_in_bounded_memory(tmp_path: Path, sqlite_template: Path) -> None:
    database = tmp_path / "stream.sqlite3"
    shutil.copy(sqlite_template, database)
    done = subprocess.run(
        [
            sys.executable,
            str(CHILD),
            f"sqlite:///{database}",
            str(tmp_path / "vault"),
            str(MEGABYTES),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["size"] == report["read_size"] == MEGABYTES * 1024 * 1024
    assert report["sm3_written"] == report["sm3_stored"] == report["sm3_read"]
    growth = report["peak_kib"] - report["baseline_kib"]
    assert growth < MAX_GROWTH_KIB, report
    blob = next((tmp_path / "vault").rglob("*.lfv"))
    assert blob.stat().st_size > 0
