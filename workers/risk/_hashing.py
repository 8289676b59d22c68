"""Normalizing and hashing identifying values, so risk tables never hold them in clear.

A value is normalized before it is hashed, so ``' 11010519491231002x'`` and
``'11010519491231002X'`` are one person and ``'+86 138-0013-8000'`` one phone. The hash is
plain SHA-256 of the normalized text: the province shares its blacklist (tenant ``*``)
with every bank, so there is no per-bank key. It keeps values out of sight in the tables,
not out of reach of someone who can enumerate them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from statistics import NormalDist
from typing import Any, Literal, TypeVar

__all__ = [
    "HashStream",
    "Kind",
    "digest_json",
    "normalize",
    "normalize_device",
    "normalize_id_number",
    "normalize_phone",
    "sha256_hex",
    "value_hash",
]

#: what an identifying value is: resident ID number, mobile number, device fingerprint
Kind = Literal["id", "phone", "device"]

_NOT_DIGIT = re.compile(r"\D")


def normalize_id_number(value: str) -> str:
    """Strip spaces, upper-case the check character ``x``."""
    return "".join(value.split()).upper()


def normalize_phone(value: str) -> str:
    """Digits only, without a leading ``86`` / ``0086`` country code on an 11-digit number."""
    digits = _NOT_DIGIT.sub("", value)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            return digits[len(prefix) :]
    return digits


def normalize_device(value: str) -> str:
    """Device ids are hex or UUIDs in either case: strip and lower-case."""
    return value.strip().lower()


def normalize(kind: Kind, value: str) -> str:
    if kind == "id":
        return normalize_id_number(value)
    if kind == "phone":
        return normalize_phone(value)
    return normalize_device(value)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def value_hash(kind: Kind, value: str) -> str:
    """The stored form of an identifying value: SHA-256 hex of its normalized text."""
    return sha256_hex(normalize(kind, value))


def digest_json(value: Any) -> str:
    """SHA-256 hex of canonical JSON: a digest of a report for the audit log."""
    canonical = json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )
    return sha256_hex(canonical)


_T = TypeVar("_T")


class HashStream:
    """Deterministic numbers from HMAC-SHA256(seed, label, counter): same label, same draws.

    What the sandbox adapters use instead of ``random``: an answer depends on nothing but
    the seed and the subject, across processes and Python versions.
    """

    def __init__(self, seed: bytes, label: str) -> None:
        self._seed, self._label, self._counter, self._pool = seed, label.encode(), 0, b""

    def random(self) -> float:
        """Uniform in [0, 1)."""
        if len(self._pool) < 7:
            block = hmac.digest(self._seed, self._label + b"#%d" % self._counter, "sha256")
            self._pool += block
            self._counter += 1
        chunk, self._pool = self._pool[:7], self._pool[7:]
        return int.from_bytes(chunk, "big") / 2**56

    def chance(self, p: float) -> bool:
        return self.random() < p

    def integer(self, low: int, high: int) -> int:
        """Uniform in [low, high], both included."""
        return low + int(self.random() * (high - low + 1))

    def pick(self, weighted: Mapping[_T, float]) -> _T:
        """One key, with probability proportional to its weight."""
        items = list(weighted.items())
        point, total = self.random() * sum(w for _, w in items), 0.0
        for value, weight in items:
            total += weight
            if point < total:
                return value
        return items[-1][0]

    def lognormal(self, median: float, sigma: float) -> float:
        """Log-normal around ``median``, rounded to the fen: amounts of money."""
        u = min(max(self.random(), 1e-9), 1 - 1e-9)
        return round(median * math.exp(NormalDist(0.0, sigma).inv_cdf(u)), 2)
