"""Participant tokens: what a customer's or agent's link carries instead of a login.

A token is ``base64url(claims) "." base64url(HMAC-SHA256(secret, claims))``. The claims hold
everything needed to rebuild the session if the process restarted (tenant, instance,
product, locale, role, expiry), so the service keeps no token table: a valid token is proof
enough, and the database schema is untouched. A token is valid for one role of one session
until the session's expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal

from loanflow.engine.errors import NotFound

__all__ = ["Claims", "Role", "TokenError", "sign_token", "verify_token"]

Role = Literal["customer", "agent"]
ROLES: tuple[Role, ...] = ("customer", "agent")
_MAX_TOKEN = 2048


class TokenError(NotFound):
    """The token is malformed, forged or expired; reported like an unknown session."""


@dataclass(frozen=True)
class Claims:
    session_id: str
    role: Role
    tenant: str
    instance_id: str
    product: str
    locale: str
    expires_at: str
    """ISO 8601 with offset."""

    @property
    def expiry(self) -> datetime:
        return datetime.fromisoformat(self.expires_at)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(claims: Claims, secret: bytes) -> str:
    body = json.dumps(asdict(claims), separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(secret, body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def verify_token(token: str, secret: bytes, now: datetime) -> Claims:
    """The claims of a genuine, unexpired token; :class:`TokenError` otherwise."""
    if not token or len(token) > _MAX_TOKEN or token.count(".") != 1:
        raise TokenError("invalid video session token")
    body_text, mac_text = token.split(".")
    try:
        body = _unb64(body_text)
        mac = _unb64(mac_text)
    except (ValueError, TypeError):
        raise TokenError("invalid video session token") from None
    if not hmac.compare_digest(mac, hmac.new(secret, body, hashlib.sha256).digest()):
        raise TokenError("invalid video session token")
    try:
        claims = Claims(**json.loads(body))
        expiry = claims.expiry
    except (ValueError, TypeError):
        raise TokenError("invalid video session token") from None
    if claims.role not in ROLES:
        raise TokenError("invalid video session token")
    if expiry <= now:
        raise TokenError("the video session link has expired")
    return claims
