"""A session's state and log, without any media: who may do what, and when it happened.

Kept apart from the peer connections so the rules (the agent reads, the customer confirms
what was read, completion needs every disclosure read and confirmed) are plain code that
tests can drive without WebRTC. Times are kept twice: wall-clock ISO for people, and
``monotonic`` so offsets into each recording can be computed at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from loanflow.engine.errors import Conflict, Forbidden, NotFound
from loanflow.workers.video._scripts import Script
from loanflow.workers.video._tokens import Role

__all__ = ["FINAL_STATES", "Entry", "SessionState", "State"]

State = Literal["waiting", "active", "finishing", "completed", "declined", "expired", "failed"]
FINAL_STATES: frozenset[str] = frozenset({"completed", "declined", "expired", "failed"})


@dataclass(frozen=True)
class Entry:
    """One line of the session log."""

    event: str
    role: Role | None
    at: str
    mono: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class SessionState:
    id: str
    tenant: str
    instance_id: str
    product: str
    locale: str
    script: Script
    expires_at: datetime
    state: State = "waiting"
    started: float | None = None
    """``monotonic`` time of the first join: offset zero of the session log."""
    read: dict[str, float] = field(default_factory=dict)
    confirmed: dict[str, float] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    outcome: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES or self.state == "finishing"

    def record(self, event: str, role: Role | None, now: datetime, **details: Any) -> Entry:
        entry = Entry(event, role, now.isoformat(), time.monotonic(), details)
        self.entries.append(entry)
        return entry

    def offset(self, mono: float) -> float:
        return round(mono - self.started, 3) if self.started is not None else 0.0

    def check_open(self) -> None:
        if self.finished:
            raise Conflict(f"the video session has ended ({self.state})")

    def _disclosure(self, disclosure_id: str) -> str:
        if disclosure_id not in self.script.ids():
            raise NotFound(f"no disclosure {disclosure_id!r} in this session's script")
        return disclosure_id

    def mark_read(self, role: Role, disclosure_id: str, now: datetime) -> None:
        self.check_open()
        if role != "agent":
            raise Forbidden("only the bank's agent marks a disclosure as read")
        if self.started is None:
            raise Conflict("nobody has joined the session yet")
        entry = self.record(
            "disclosure.read", role, now, disclosure=self._disclosure(disclosure_id)
        )
        self.read.setdefault(disclosure_id, entry.mono)

    def confirm(self, role: Role, disclosure_id: str, now: datetime) -> None:
        self.check_open()
        if role != "customer":
            raise Forbidden("only the customer confirms a disclosure")
        if self._disclosure(disclosure_id) not in self.read:
            raise Conflict(f"disclosure {disclosure_id!r} has not been read yet")
        if disclosure_id in self.confirmed:
            return
        entry = self.record("disclosure.confirmed", role, now, disclosure=disclosure_id)
        self.confirmed[disclosure_id] = entry.mono

    def missing(self) -> dict[str, list[str]]:
        ids = self.script.ids()
        return {
            "unread": [i for i in ids if i not in self.read],
            "unconfirmed": [i for i in ids if i not in self.confirmed],
        }

    def check_complete(self, role: Role) -> None:
        self.check_open()
        if role != "agent":
            raise Forbidden("only the bank's agent completes the session")
        missing = self.missing()
        if missing["unread"] or missing["unconfirmed"]:
            raise Conflict(
                "every disclosure must be read and confirmed first: "
                f"unread {missing['unread']}, unconfirmed {missing['unconfirmed']}"
            )

    def view(self, locale: str) -> list[dict[str, Any]]:
        return [
            {**d, "read": d["id"] in self.read, "confirmed": d["id"] in self.confirmed}
            for d in self.script.render(locale)
        ]

    def log_document(self, recordings: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The session log as stored in the vault: every entry with its offsets."""
        starts = {
            role: info.get("started_mono")
            for role, info in recordings.items()
            if info.get("started_mono") is not None
        }
        entries = []
        for entry in self.entries:
            offsets = {
                role: round(entry.mono - start, 3)
                for role, start in starts.items()
                if start is not None and entry.mono >= start
            }
            entries.append(
                {
                    "event": entry.event,
                    "role": entry.role,
                    "at": entry.at,
                    "offset": self.offset(entry.mono),
                    "recording_offsets": offsets,
                    **entry.details,
                }
            )
        return {
            "session_id": self.id,
            "tenant": self.tenant,
            "instance_id": self.instance_id,
            "product": self.product,
            "locale": self.locale,
            "script_id": self.script.id,
            "script": {locale: self.script.render(locale) for locale in ("zh-CN", "en")},
            "state": self.state,
            "recordings": {
                role: {k: v for k, v in info.items() if k != "started_mono"}
                for role, info in recordings.items()
            },
            "entries": entries,
        }
