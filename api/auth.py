"""Who is calling: OAuth2 tokens in, a :class:`Principal` out.

``POST /api/v1/auth/token`` takes the ``password`` grant (people) and the
``client_credentials`` grant (integrators, remote workers) form-encoded, as OAuth2 specifies,
and answers a JWT (HS256) that carries everything a request needs to authorize: principal,
tenant, roles and the tenants it may act in (``tns``, computed when issued). Verifying it costs
a signature check and no database round trip, so role or scope changes show at the next token.

Routes depend on :func:`current_principal`, :func:`tenant_principal` (``{tenant}`` in the path;
a tenant outside the caller's scope is a 404, never a 403, so existence does not leak) or
:func:`require_roles`. ``province_admin`` counts as every role inside its scope.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import unquote_plus

import jwt
from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Path, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlowPassword, OAuthFlows
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2
from pydantic import BaseModel, Field

from loanflow.api.settings import PLACEHOLDER_SECRET, ApiSettings
from loanflow.engine.clock import Clock
from loanflow.engine.engine import Engine
from loanflow.engine.tenancy import ROLES, TENANT_ID_PATTERN, Directory, PrincipalInfo

__all__ = [
    "AUTH_RESPONSES",
    "ISSUER",
    "TOKEN_URL",
    "AuthService",
    "InvalidToken",
    "Principal",
    "SlidingWindowLimiter",
    "TokenResponse",
    "current_principal",
    "install",
    "require_roles",
    "router",
    "tenant_principal",
]

log = logging.getLogger(__name__)

TOKEN_URL = "/api/v1/auth/token"
ISSUER = "loanflow"
ALGORITHM = "HS256"
_CLAIMS = ["sub", "ten", "rol", "tns", "knd", "iat", "exp", "iss"]
_MAX_TOKEN = 8192
_MAX_NAME = 128
_MAX_SECRET = 1024
_VERIFIED_CACHE = 4096
#: an address may try this many times the per-name limit across all names
_ADDRESS_FACTOR = 10


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request, as its token describes it."""

    id: str
    tenant: str
    kind: str
    roles: frozenset[str]
    tenants: frozenset[str]

    def may_act_in(self, tenant: str) -> bool:
        return tenant in self.tenants

    def has_role(self, *roles: str) -> bool:
        """Whether it holds one of ``roles``; a province admin holds them all (in its scope)."""
        return "province_admin" in self.roles or not self.roles.isdisjoint(roles)


class InvalidToken(Exception):
    """The bearer token is malformed, forged, expired or not ours."""


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = Field("bearer", description="always bearer")
    expires_in: int = Field(description="seconds the token stays valid")
    tenant: str = Field(description="the tenant of the principal")
    roles: list[str]


class OAuth2ErrorBody(BaseModel):
    error: str = Field(
        description="invalid_request, invalid_client, invalid_grant, unsupported_grant_type "
        "or too_many_requests"
    )
    error_description: str


class _ErrorBody(BaseModel):
    error: str
    message: str
    details: dict[str, Any]


#: the answers every authenticated, tenant-scoped route can give; pass to ``responses=``
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": _ErrorBody, "description": "no token, or an invalid or expired one"},
    403: {"model": _ErrorBody, "description": "the caller lacks the role this needs"},
    404: {"model": _ErrorBody, "description": "no such tenant (or object) for this caller"},
}


class SlidingWindowLimiter:
    """Attempts per key in a sliding window; thread-safe, at most ``max_keys`` keys kept.

    The least recently used key is forgotten first when the table is full.
    """

    def __init__(
        self,
        window: float = 60.0,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._hits: OrderedDict[tuple[str, ...], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def attempt(self, *limits: tuple[tuple[str, ...], int]) -> float | None:
        """Count one attempt under every ``(key, limit)``; when one is exhausted count none
        and answer the seconds until it frees up, else None."""
        now = self._clock()
        with self._lock:
            queues = [(self._queue(key, limit, now), limit) for key, limit in limits]
            wait = max(
                (q[0] + self.window - now for q, limit in queues if len(q) >= limit),
                default=None,
            )
            if wait is not None:
                return max(wait, 0.0)
            for q, _limit in queues:
                q.append(now)
            return None

    def _queue(self, key: tuple[str, ...], limit: int, now: float) -> deque[float]:
        q = self._hits.get(key)
        if q is None or q.maxlen != limit:
            q = deque(q or (), maxlen=limit)
            self._hits[key] = q
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
        self._hits.move_to_end(key)
        horizon = now - self.window
        while q and q[0] <= horizon:
            q.popleft()
        return q

    def __len__(self) -> int:
        return len(self._hits)


class AuthService:
    """Issues and verifies access tokens; keeps the token endpoint's rate limit.

    A placeholder ``jwt_secret`` (allowed in demo mode only) is replaced by a random key of
    this process: demo tokens then stop working at restart, and nobody can forge them.
    """

    def __init__(
        self,
        settings: ApiSettings,
        directory: Directory,
        clock: Clock,
        *,
        limiter: SlidingWindowLimiter | None = None,
    ) -> None:
        secret = settings.jwt_secret.get_secret_value()
        if secret in ("", PLACEHOLDER_SECRET):
            if not settings.demo:
                raise ValueError("set LOANFLOW_JWT_SECRET to a real secret outside demo mode")
            log.warning("demo mode: access tokens are signed with a random key of this process")
            self._key: bytes = secrets.token_bytes(32)
        else:
            self._key = secret.encode()
        self.directory = directory
        self.clock = clock
        self.ttl = settings.token_ttl_seconds
        self.attempts_per_minute = settings.token_attempts_per_minute
        self.limiter = limiter or SlidingWindowLimiter(60.0)
        # PyJWT spends ~100 µs on a decode; a token seen before costs a dictionary lookup.
        self._verified: OrderedDict[str, tuple[Principal, int]] = OrderedDict()
        self._verified_lock = threading.Lock()

    def issue(self, info: PrincipalInfo) -> TokenResponse:
        tenants = self.directory.scope(info)
        now = int(self.clock.now().timestamp())
        claims = {
            "sub": info.id,
            "ten": info.tenant,
            "rol": sorted(info.roles),
            "tns": sorted(tenants),
            "knd": info.kind,
            "iat": now,
            "exp": now + self.ttl,
            "iss": ISSUER,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return TokenResponse(
            access_token=token,
            token_type="bearer",
            expires_in=self.ttl,
            tenant=info.tenant,
            roles=sorted(info.roles),
        )

    def verify(self, token: str) -> Principal:
        """The principal a token names; :class:`InvalidToken` otherwise. No database access."""
        with self._verified_lock:
            known = self._verified.get(token)
            if known is not None:
                self._verified.move_to_end(token)
        if known is not None:
            principal, exp = known
            if exp <= self.clock.now().timestamp():
                raise InvalidToken("the token has expired")
            return principal
        principal, exp = self._decode(token)
        with self._verified_lock:
            self._verified[token] = (principal, exp)
            if len(self._verified) > _VERIFIED_CACHE:
                self._verified.popitem(last=False)
        return principal

    def _decode(self, token: str) -> tuple[Principal, int]:
        if len(token) > _MAX_TOKEN:
            raise InvalidToken("the token is too long")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                # expiry is checked below against the engine's clock, which tests can move
                options={"require": _CLAIMS, "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"the token is not valid: {exc}") from None
        exp = claims["exp"]
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise InvalidToken("the token's expiry is malformed")
        if exp <= self.clock.now().timestamp():
            raise InvalidToken("the token has expired")
        sub, ten, knd, rol, tns = (claims[k] for k in ("sub", "ten", "knd", "rol", "tns"))
        if not (
            isinstance(sub, str)
            and isinstance(ten, str)
            and knd in ("user", "client")
            and isinstance(rol, list)
            and isinstance(tns, list)
            and all(isinstance(r, str) for r in (*rol, *tns))
        ):
            raise InvalidToken("the token's claims are malformed")
        principal = Principal(
            id=sub, tenant=ten, kind=knd, roles=frozenset(rol), tenants=frozenset(tns)
        )
        return principal, exp

    def throttle(self, address: str, name: str) -> float | None:
        """Count a token attempt; seconds to wait when over the limit, else None."""
        per_name = self.attempts_per_minute
        return self.limiter.attempt(
            (("name", address, name[:_MAX_NAME]), per_name),
            (("address", address), per_name * _ADDRESS_FACTOR),
        )


# -- the token endpoint ---------------------------------------------------------------

router = APIRouter(tags=["auth"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(
    error: str, description: str, status: int = 400, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={**_NO_STORE, **(headers or {})},
    )


def _invalid_client(description: str) -> JSONResponse:
    return _oauth_error(
        "invalid_client", description, 401, {"WWW-Authenticate": 'Basic realm="loanflow"'}
    )


def _basic_credentials(header: str | None) -> tuple[str, str] | JSONResponse | None:
    """Client id and secret from ``Authorization: Basic`` (RFC 6749 2.3.1 form-encodes both)."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return _invalid_client("the Basic credentials are not valid base64 of id:secret")
    client_id, colon, client_secret = decoded.partition(":")
    if not colon:
        return _invalid_client("the Basic credentials are not valid base64 of id:secret")
    return unquote_plus(client_id), unquote_plus(client_secret)


FormField = Annotated[str | None, Form()]


@router.post(
    TOKEN_URL,
    response_model=TokenResponse,
    summary="Get an access token (OAuth2 password or client_credentials grant)",
    responses={
        400: {"model": OAuth2ErrorBody, "description": "the grant failed (OAuth2 error)"},
        401: {"model": OAuth2ErrorBody, "description": "client authentication failed"},
        429: {"model": OAuth2ErrorBody, "description": "too many attempts; see Retry-After"},
    },
)
def token(
    request: Request,
    grant_type: Annotated[
        str | None, Form(description="password or client_credentials", examples=["password"])
    ] = None,
    username: FormField = None,
    password: FormField = None,
    client_id: FormField = None,
    client_secret: FormField = None,
    scope: Annotated[str | None, Form(description="ignored: roles decide")] = None,
) -> JSONResponse:
    """People send ``grant_type=password`` with ``username`` and ``password``; systems send
    ``grant_type=client_credentials`` with ``client_id`` and ``client_secret`` in the form or
    as HTTP Basic. Failures answer in OAuth2's shape, ``{"error", "error_description"}``."""
    auth: AuthService = request.app.state.auth
    basic = _basic_credentials(request.headers.get("authorization"))
    if grant_type == "client_credentials":
        name = (basic[0] if isinstance(basic, tuple) else None) or client_id or ""
    else:
        name = username or ""
    address = request.client.host if request.client else "unknown"
    wait = auth.throttle(address, name)
    if wait is not None:
        return _oauth_error(
            "too_many_requests",
            "too many token requests for this name from this address; try again later",
            429,
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )

    if not grant_type:
        return _oauth_error("invalid_request", "grant_type is required")
    if grant_type == "password":
        if not username or password is None:
            return _oauth_error("invalid_request", "the password grant needs username and password")
        if len(username) > _MAX_NAME or len(password) > _MAX_SECRET:
            return _oauth_error("invalid_request", "username or password is too long")
        if "\x00" in username:
            return _oauth_error("invalid_request", "the username holds a NUL character")
        info = auth.directory.authenticate(username, password, "user")
        if info is None:
            return _oauth_error("invalid_grant", "the username or password is wrong")
    elif grant_type == "client_credentials":
        if isinstance(basic, JSONResponse):
            return basic
        if basic is not None and (client_secret is not None or client_id not in (None, basic[0])):
            return _oauth_error(
                "invalid_request", "send client credentials either as Basic or in the form"
            )
        credentials = basic or (client_id, client_secret)
        cid, csecret = credentials
        if not cid or not csecret:
            return _invalid_client("client_id and client_secret are required")
        if len(cid) > _MAX_NAME or len(csecret) > _MAX_SECRET:
            return _invalid_client("client_id or client_secret is too long")
        if "\x00" in cid:
            return _invalid_client("the client_id holds a NUL character")
        info = auth.directory.authenticate(cid, csecret, "client")
        if info is None:
            return _invalid_client("the client_id or client_secret is wrong")
    else:
        return _oauth_error(
            "unsupported_grant_type", "grant_type must be password or client_credentials"
        )
    issued = auth.issue(info)
    log.info("issued a token to %s of tenant %s", info.id, info.tenant)
    return JSONResponse(issued.model_dump(), headers=_NO_STORE)


# -- dependencies ---------------------------------------------------------------------

_bearer = HTTPBearer(
    auto_error=False, description="an access token from " + TOKEN_URL + ", as a Bearer header"
)
_oauth2 = OAuth2(
    flows=OAuthFlows(
        password=OAuthFlowPassword(tokenUrl=TOKEN_URL),
        clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_URL),
    ),
    scheme_name="OAuth2",
    description="people: password grant; integrators and remote workers: client credentials",
    auto_error=False,
)


def _unauthorized(message: str, error: str | None = None) -> HTTPException:
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return HTTPException(401, detail=message, headers={"WWW-Authenticate": challenge})


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _documented: Annotated[str | None, Security(_oauth2)],
) -> Principal:
    """The caller, from ``Authorization: Bearer <token>``; 401 without a valid token."""
    if credentials is None:
        raise _unauthorized("an access token is required (Authorization: Bearer …)")
    auth: AuthService = request.app.state.auth
    try:
        return auth.verify(credentials.credentials)
    except InvalidToken as exc:
        raise _unauthorized(str(exc), "invalid_token") from None


async def tenant_principal(
    tenant: Annotated[str, Path(pattern=TENANT_ID_PATTERN, description="tenant id")],
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    """The caller, when it may act in the path's ``{tenant}``; 404 otherwise (never 403)."""
    if not principal.may_act_in(tenant):
        raise HTTPException(404, f"tenant {tenant!r} not found")
    return principal


def require_roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller acting in ``{tenant}`` with one of ``roles``, else 403."""
    unknown = set(roles) - ROLES
    if not roles or unknown:
        raise ValueError(f"require_roles needs known roles, got unknown {sorted(unknown)}")
    wanted = ", ".join(roles)

    async def dependency(
        principal: Annotated[Principal, Depends(tenant_principal)],
    ) -> Principal:
        if not principal.has_role(*roles):
            raise HTTPException(403, f"this needs one of the roles: {wanted}")
        return principal

    return dependency


def install(app: FastAPI, engine: Engine, settings: ApiSettings) -> AuthService:
    """Put a :class:`Directory` and an :class:`AuthService` on ``app.state``; add ``/token``."""
    directory = Directory(engine, upgrade_hashes=not settings.demo)
    service = AuthService(settings, directory, engine.clock)
    app.state.directory = directory
    app.state.auth = service
    app.include_router(router)
    return service
