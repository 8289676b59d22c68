"""The append-only audit log: each event carries the SM3 hash of the one before it.

A stream is one process instance (or ``deployments:<tenant>``). Changing, removing or
reordering any stored event breaks the chain from that point, and :func:`verify_chain`
names the first broken link.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from sqlalchemy import Connection, select

from loanflow.engine.store.models import audit_table

__all__ = ["GENESIS", "AuditRecord", "ChainReport", "sm3_hex", "verify_chain"]

#: the "previous hash" of a stream's first event
GENESIS = "0" * 64


def sm3_hex(payload: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(payload)
    return digest.finalize().hex()


def _canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    ).encode()


@dataclass
class AuditRecord:
    """One event about to be appended; ``seal`` fixes its place and hash in the chain."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None

    def seal(
        self, *, tenant: str, stream: str, seq: int, at: datetime, prev_hash: str
    ) -> dict[str, Any]:
        row = {
            "tenant": tenant,
            "stream": stream,
            "seq": seq,
            "at": at,
            "actor": self.actor,
            "kind": self.kind,
            "data": json.loads(_canonical(self.data)),
            "prev_hash": prev_hash,
        }
        row["hash"] = event_hash(row)
        return row


def event_hash(row: dict[str, Any]) -> str:
    at: datetime = row["at"]
    body = {
        "tenant": row["tenant"],
        "stream": row["stream"],
        "seq": row["seq"],
        "at": at.isoformat(timespec="microseconds"),
        "actor": row["actor"],
        "kind": row["kind"],
        "data": row["data"],
        "prev": row["prev_hash"],
    }
    return sm3_hex(_canonical(body))


def seal_all(
    records: Iterable[AuditRecord], *, tenant: str, stream: str, seq: int, head: str, at: datetime
) -> tuple[list[dict[str, Any]], int, str]:
    """Rows for ``records`` continuing a chain at (``seq``, ``head``); returns the new head."""
    rows = []
    for record in records:
        seq += 1
        row = record.seal(tenant=tenant, stream=stream, seq=seq, at=at, prev_hash=head)
        head = row["hash"]
        rows.append(row)
    return rows, seq, head


@dataclass(frozen=True)
class ChainReport:
    stream: str
    events: int
    ok: bool
    broken_at: int | None = None
    reason: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"{self.stream}: {self.events} events, chain intact"
        return f"{self.stream}: broken at event {self.broken_at}: {self.reason}"


def verify_chain(conn: Connection, stream: str, expected_head: str | None = None) -> ChainReport:
    """Recompute every hash of ``stream`` in order; report the first link that does not hold.

    ``expected_head`` (kept on the instance row) also catches events cut off the end.
    """
    rows = conn.execute(
        select(audit_table).where(audit_table.c.stream == stream).order_by(audit_table.c.seq)
    ).mappings()
    prev = GENESIS
    count = 0
    for count, row in enumerate(rows, start=1):
        if row["seq"] != count:
            return ChainReport(
                stream, count, False, count, f"sequence number {row['seq']} out of place"
            )
        if row["prev_hash"] != prev:
            return ChainReport(stream, count, False, count, "does not link to the event before it")
        if event_hash(dict(row)) != row["hash"]:
            return ChainReport(stream, count, False, count, "content does not match its hash")
        prev = row["hash"]
    if expected_head is not None and prev != expected_head:
        return ChainReport(stream, count, False, count + 1, "events are missing at the end")
    return ChainReport(stream, count, True)
