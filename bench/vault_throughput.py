"""Vault throughput: store and open of a large stream, SM2 signatures per second.

Measured in one process on a fresh SQLite file and a local blob directory (both temporary):

store / open
    A ``--mb`` MB stream (default 100) from a generator (a 1 MiB random block repeated, so
    generating it costs nothing) through :meth:`Vault.store` and back through
    :meth:`Vault.open`, consumed without being kept: SM3 + SM4-GCM per chunk + the file I/O.
sign / verify
    :meth:`KeyRing.sign` / :meth:`KeyRing.verify` (key lookup and, for signing, unsealing
    the private key included), and the bare SM2 primitives of GmSSL for comparison.
primitives
    SM4-GCM and SM3 alone on 1 MiB buffers, the ceiling for store and open.

Usage: ``python bench/vault_throughput.py [--mb 100] [--signatures 2000]``.
The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import SecretStr

from loanflow.engine import Engine, EngineSettings
from loanflow.workers.vault import Vault, VaultSettings
from loanflow.workers.vault._crypto import sm2_generate, sm2_sign, sm2_verify, sm3, sm4_gcm_encrypt

MIB = 1024 * 1024


def rate(count: float, fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="size of the streamed document")
    parser.add_argument("--signatures", type=int, default=2000, help="signatures to time")
    parser.add_argument("--chunk-size", type=int, default=MIB, help="vault chunk size (bytes)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="loanflow-vault-bench-") as temp:
        root = Path(temp)
        engine = Engine(EngineSettings(database_url=f"sqlite:///{root / 'bench.sqlite3'}"))
        engine.migrate()
        vault = Vault(
            engine,
            VaultSettings(
                master_key=SecretStr(os.urandom(32).hex()),
                local_dir=root / "vault",
                chunk_size=args.chunk_size,
            ),
        )
        tenant = "bench"
        block = os.urandom(MIB)

        def stream() -> Iterator[bytes]:
            for _ in range(args.mb):
                yield block

        warm = vault.store(tenant, stream(), kind="warm-up")
        for _ in vault.open(tenant, warm.id):
            pass

        stored: list[str] = []
        store_mb_s = rate(
            args.mb, lambda: stored.append(vault.store(tenant, stream(), kind="b").id)
        )

        def consume() -> None:
            for _ in vault.open(tenant, stored[0]):
                pass

        open_mb_s = rate(args.mb, consume)

        n = args.signatures
        message = b"evidence digest " * 4
        signature = vault.keys.sign(tenant, message)
        sign_per_s = rate(n, lambda: [vault.keys.sign(tenant, message) for _ in range(n)])
        verify_per_s = rate(
            n, lambda: [vault.keys.verify(tenant, message, signature) for _ in range(n)]
        )

        public, private = sm2_generate()
        der = sm2_sign(private, public, message)
        raw_sign_per_s = rate(n, lambda: [sm2_sign(private, public, message) for _ in range(n)])
        raw_verify_per_s = rate(n, lambda: [sm2_verify(public, message, der) for _ in range(n)])

        key, nonce = os.urandom(16), os.urandom(12)
        gcm_mb_s = rate(50, lambda: [sm4_gcm_encrypt(key, nonce, b"", block) for _ in range(50)])
        digest = sm3()
        sm3_mb_s = rate(50, lambda: [digest.update(block) for _ in range(50)])
        engine.close()

    figures = {
        "mb": args.mb,
        "chunk_size": args.chunk_size,
        "store_mb_per_s": round(store_mb_s, 1),
        "open_mb_per_s": round(open_mb_s, 1),
        "sign_per_s": round(sign_per_s),
        "verify_per_s": round(verify_per_s),
        "sm2_sign_raw_per_s": round(raw_sign_per_s),
        "sm2_verify_raw_per_s": round(raw_verify_per_s),
        "sm4_gcm_mb_per_s": round(gcm_mb_s, 1),
        "sm3_mb_per_s": round(sm3_mb_s, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(
        f"store {figures['store_mb_per_s']} MB/s, open {figures['open_mb_per_s']} MB/s "
        f"({args.mb} MB, chunks of {args.chunk_size} bytes)"
    )
    print(
        f"KeyRing.sign {figures['sign_per_s']}/s, verify {figures['verify_per_s']}/s; "
        f"bare SM2 sign {figures['sm2_sign_raw_per_s']}/s, "
        f"verify {figures['sm2_verify_raw_per_s']}/s"
    )
    print(
        f"ceiling: SM4-GCM {figures['sm4_gcm_mb_per_s']} MB/s, SM3 {figures['sm3_mb_per_s']} MB/s"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
