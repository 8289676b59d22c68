"""Stream a large generated document through the vault in a fresh process; report peak RSS.

Usage: ``python stream_child.py DATABASE_URL VAULT_DIR MEGABYTES``; prints one JSON line.
The content is generated piece by piece and never held whole, so any growth of the peak RSS
beyond the baseline is the vault's own buffering.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from pydantic import SecretStr

from loanflow.engine import Engine, EngineSettings
from loanflow.workers.vault import Vault, VaultSettings

PIECE = 300_007  # deliberately not a multiple of the chunk size


def peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    url, root, megabytes = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    total = megabytes * 1024 * 1024
    engine = Engine(EngineSettings(database_url=url))
    vault = Vault(
        engine,
        VaultSettings(master_key=SecretStr("m" * 40), demo=False, local_dir=root),
    )
    warm = vault.store("enshi", os.urandom(3 * 1024 * 1024), kind="warm-up")
    for _ in vault.open("enshi", warm.id):
        pass
    gc.collect()
    baseline = peak_kib()

    written = hashes.Hash(hashes.SM3())

    def generate() -> Iterator[bytes]:
        left = total
        while left:
            piece = os.urandom(min(PIECE, left))
            written.update(piece)
            left -= len(piece)
            yield piece

    started = time.perf_counter()
    info = vault.store("enshi", generate(), kind="recording", content_type="audio/wav")
    stored = time.perf_counter()
    read = hashes.Hash(hashes.SM3())
    size = 0
    for chunk in vault.open("enshi", info.id):
        read.update(chunk)
        size += len(chunk)
    opened = time.perf_counter()
    print(
        json.dumps(
            {
                "size": info.size,
                "read_size": size,
                "sm3_written": written.finalize().hex(),
                "sm3_stored": info.sm3,
                "sm3_read": read.finalize().hex(),
                "baseline_kib": baseline,
                "peak_kib": peak_kib(),
                "store_seconds": round(stored - started, 3),
                "open_seconds": round(opened - stored, 3),
            }
        )
    )
    engine.close()


if __name__ == "__main__":
    main()
