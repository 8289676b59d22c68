"""The video service: sessions, their peer connections, recordings and completion.

aiortc peers belong to one event loop, so the service runs its own in a daemon thread
(started on first use) and every async method hops onto it; callers may be on any loop
(uvicorn's, a test's) or none (the sync worker). Media never touches the caller's loop.

What survives a restart: only what a participant's token carries (see ``_tokens``). Session
progress, peers and working recordings live in this process; after a restart a token's
session is rebuilt empty (logged as ``session.restored``) and the disclosures are read
again. The finished session's log and recordings go to the vault, which is the record.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Coroutine, Mapping
from datetime import timedelta
from typing import Any, TypeVar, cast

from loanflow.engine.engine import Engine
from loanflow.engine.errors import Conflict, InvalidInput, NotFound
from loanflow.workers.video._faces import FaceDetector, check_faces, load_detector, sample_frames
from loanflow.workers.video._peers import Peers
from loanflow.workers.video._scripts import DEFAULT_SCRIPTS, Script, check_locale, script_for
from loanflow.workers.video._session import SessionState
from loanflow.workers.video._tokens import Claims, Role, sign_token, verify_token
from loanflow.workers.video.settings import VideoSettings

__all__ = ["OUTCOME_MESSAGE", "SESSION_KEY", "VideoService"]

log = logging.getLogger(__name__)

#: the BPMN message a session's outcome is correlated with, and its correlation key
OUTCOME_MESSAGE = "video_session_outcome"
SESSION_KEY = "video_session_id"

T = TypeVar("T")
_UNSET: Any = object()


class VideoService:
    """Remote dual-recording sessions of one engine; thread-safe.

    ``vault`` is built on first completion when not given (demo mode from the settings).
    ``detector`` replaces the Haar face detector (None: no face check, sessions flagged).
    """

    def __init__(
        self,
        engine: Engine,
        settings: VideoSettings | None = None,
        *,
        vault: Any = None,
        scripts: Mapping[tuple[str, str], Script] = DEFAULT_SCRIPTS,
        detector: FaceDetector | None = _UNSET,
    ) -> None:
        self.engine = engine
        self.settings = settings or VideoSettings()
        secret = self.settings.token_secret
        self._secret = secret.get_secret_value().encode() if secret else os.urandom(32)
        self._vault = vault
        self.scripts = scripts
        self._detector = detector
        self._sessions: dict[str, SessionState] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._finished: dict[str, concurrent.futures.Future[dict[str, Any]]] = {}
        self.peers = Peers(self.settings, engine.clock)

    @classmethod
    def for_engine(cls, engine: Engine, *, demo: bool = False) -> VideoService:
        """The service whose ``video.*`` workers this engine has, else a new one registered.

        The workers and the signaling routes must share one service (the sessions are in
        its memory): an app built around an engine that already has them reuses theirs.
        """
        from loanflow.workers.registry import WorkerRegistry
        from loanflow.workers.video._workers import video_workers

        existing = engine.workers.get("video.open_session")
        service = getattr(existing.fn, "video_service", None) if existing else None
        if isinstance(service, VideoService):
            return service
        settings = VideoSettings()
        if demo and not settings.demo:
            settings = settings.model_copy(update={"demo": True})
        service = cls(engine, settings)
        kept = [d for d in engine.workers if not d.topic.startswith("video.")]
        # cast: mypy may see this module under two names (by path and as loanflow.*)
        engine.workers = WorkerRegistry([*kept, *video_workers(cast(Any, service))])
        return service

    # -- the loop -----------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    self._sweeper = loop.create_task(self._sweep())
                    try:
                        loop.run_forever()
                    finally:
                        pending = asyncio.all_tasks(loop)
                        for task in pending:
                            task.cancel()
                        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                        loop.run_until_complete(loop.shutdown_default_executor())
                        loop.close()

                self._thread = threading.Thread(target=run, name="loanflow-video", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the service loop; a cancelled caller does not cancel it."""
        return await asyncio.shield(asyncio.wrap_future(self.submit(coro)))

    def close(self, timeout: float = 30.0) -> None:
        """Close every peer and recording (unfinished sessions are dropped) and the loop."""
        loop = self._loop
        if loop is None:
            return
        try:
            self.submit(self.peers.close_all()).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout)
            self._loop = None

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = self.engine.clock.now()
            for session in list(self._sessions.values()):
                if not session.finished and session.expires_at <= now:
                    await self.finish(session, "expired", None)

    # -- opening (sync, from the worker) --------------------------------------------------

    def open_session(
        self, tenant: str, instance_id: str, product: str, locale: str
    ) -> tuple[SessionState, dict[Role, str]]:
        """A new session for the instance, or its unfinished one (a job may run twice)."""
        check_locale(locale)
        script = script_for(tenant, product, self.scripts)
        with self._lock:
            for session in self._sessions.values():
                if (
                    session.tenant == tenant
                    and session.instance_id == instance_id
                    and session.product == product
                    and not session.finished
                ):
                    return session, self._tokens(session)
            expires = self.engine.clock.now() + timedelta(minutes=self.settings.session_minutes)
            session = SessionState(
                id=uuid.uuid4().hex,
                tenant=tenant,
                instance_id=instance_id,
                product=product,
                locale=locale,
                script=script,
                expires_at=expires,
            )
            session.record("session.opened", None, self.engine.clock.now(), script=script.id)
            self._sessions[session.id] = session
        return session, self._tokens(session)

    def _tokens(self, session: SessionState) -> dict[Role, str]:
        roles: tuple[Role, ...] = ("customer", "agent")
        return {
            role: sign_token(
                Claims(
                    session.id,
                    role,
                    session.tenant,
                    session.instance_id,
                    session.product,
                    session.locale,
                    session.expires_at.isoformat(),
                ),
                self._secret,
            )
            for role in roles
        }

    def link(self, role: Role, token: str) -> str:
        base = self.settings.public_base_url.rstrip("/")
        return f"{base}/video/{role}.html#token={token}"

    # -- participants (async, any loop) ---------------------------------------------------

    def claims(self, token: str) -> Claims:
        return verify_token(token, self._secret, self.engine.clock.now())

    def session_for(self, claims: Claims) -> SessionState:
        """The token's session; rebuilt (empty) if this process does not know it."""
        with self._lock:
            session = self._sessions.get(claims.session_id)
            if session is not None:
                return session
        try:
            instance = self.engine.get_instance(claims.tenant, claims.instance_id, variables=False)
        except NotFound:
            raise NotFound("the video session's loan no longer exists") from None
        if instance.state != "running":
            raise Conflict("the video session's loan is no longer waiting for it")
        with self._lock:
            session = self._sessions.setdefault(
                claims.session_id,
                SessionState(
                    id=claims.session_id,
                    tenant=claims.tenant,
                    instance_id=claims.instance_id,
                    product=claims.product,
                    locale=claims.locale,
                    script=script_for(claims.tenant, claims.product, self.scripts),
                    expires_at=claims.expiry,
                ),
            )
        session.record("session.restored", None, self.engine.clock.now())
        return session

    async def view(self, token: str, locale: str | None = None) -> dict[str, Any]:
        claims = self.claims(token)
        session = self.session_for(claims)
        shown = check_locale(locale) if locale else session.locale
        return {
            "session_id": session.id,
            "role": claims.role,
            "state": session.state,
            "locale": shown,
            "expires_at": session.expires_at.isoformat(),
            "disclosures": session.view(shown),
            "participants": self.peers.presence(session.id),
            "ice_servers": [s.model_dump(exclude_none=True) for s in self.settings.ice_servers],
            "outcome": session.outcome,
        }

    async def join(self, token: str, sdp: str, resume: str | None) -> dict[str, str]:
        claims = self.claims(token)
        session = self.session_for(claims)
        session.check_open()
        if len(sdp.encode()) > self.settings.max_sdp_bytes:
            raise InvalidInput("the SDP offer is too large", {"sdp": "too large"})
        return await self.call(self.peers.join(session, claims.role, sdp, resume))

    async def leave(self, token: str, connection_id: str | None) -> None:
        claims = self.claims(token)
        session = self.session_for(claims)
        await self.call(self.peers.leave(session, claims.role, connection_id))

    async def mark_read(self, token: str, disclosure_id: str) -> None:
        claims = self.claims(token)
        self.session_for(claims).mark_read(claims.role, disclosure_id, self.engine.clock.now())

    async def confirm(self, token: str, disclosure_id: str) -> None:
        claims = self.claims(token)
        self.session_for(claims).confirm(claims.role, disclosure_id, self.engine.clock.now())

    async def complete(self, token: str) -> None:
        claims = self.claims(token)
        session = self.session_for(claims)
        session.check_complete(claims.role)
        if not self.peers.has_joined(session.id, "customer"):
            raise Conflict("the customer has not joined the session")
        self._finishing(session)
        self.submit(self.finish(session, "completed", claims.role))

    async def decline(self, token: str) -> None:
        claims = self.claims(token)
        session = self.session_for(claims)
        session.check_open()
        self._finishing(session)
        self.submit(self.finish(session, "declined", claims.role))

    def _finishing(self, session: SessionState) -> None:
        with self._lock:
            session.check_open()
            session.state = "finishing"
            self._finished[session.id] = concurrent.futures.Future()

    def wait_finished(self, session_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The outcome once the session's recordings are stored (tests, tools).

        Waits for the session to start finishing too: a browser's "complete" click reaches
        the server a moment after the click returns.
        """
        deadline = time.monotonic() + timeout
        future = self._finished.get(session_id)
        while future is None:
            if time.monotonic() >= deadline:
                raise NotFound(f"video session {session_id} is not finishing")
            time.sleep(0.05)
            future = self._finished.get(session_id)
        return future.result(max(0.0, deadline - time.monotonic()))

    def get(self, session_id: str) -> SessionState:
        session = self._sessions.get(session_id)
        if session is None:
            raise NotFound(f"video session {session_id} not found")
        return session

    # -- finishing (on the loop) ----------------------------------------------------------

    async def finish(self, session: SessionState, outcome: str, by: Role | None) -> None:
        """Close the peers, store recordings and log in the vault, correlate the outcome."""
        if session.id not in self._finished:
            self._finishing(session)
        future = self._finished[session.id]
        now = self.engine.clock.now()
        session.record(f"session.{outcome}", by, now)
        try:
            recordings = await self.peers.close_session(session)
            result = await asyncio.to_thread(self._store, session, outcome, recordings)
            session.outcome = result
            session.state = outcome  # type: ignore[assignment]
            await asyncio.to_thread(self._correlate, session, result)
            future.set_result(result)
        except Exception as exc:
            log.exception("video session %s could not be finished", session.id)
            session.state = "failed"
            future.set_exception(exc)

    def vault(self) -> Any:
        if self._vault is None:
            from loanflow.workers.vault import Vault, VaultSettings

            demo = self.settings.demo
            self._vault = Vault(self.engine, VaultSettings(demo=True) if demo else VaultSettings())
        return self._vault

    def _store(
        self, session: SessionState, outcome: str, recordings: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        vault = self.vault()
        detector = (
            load_detector(self.settings.face_cascade)
            if self._detector is _UNSET
            else self._detector
        )
        documents: list[dict[str, Any]] = []
        face: dict[str, Any] = {}
        for role in ("customer", "agent"):
            info = recordings.get(role)
            path = info.get("path") if info else None
            if info is None or path is None:
                continue
            if role == "customer":
                frames = sample_frames(
                    path, self.settings.face_sample_interval, self.settings.face_max_samples
                )
                face = check_faces(frames, detector, self.settings.face_threshold).as_dict()
                info["face_check"] = face
            evidence = {k: v for k, v in info.items() if k not in ("path", "started_mono")}
            with open(path, "rb") as content:
                stored = vault.store(
                    session.tenant,
                    content,
                    kind="video_recording",
                    content_type="video/mp4",
                    filename=f"{session.id}-{role}.mp4",
                    instance_id=session.instance_id,
                    created_by=f"video:{role}",
                    evidence={"session_id": session.id, "role": role, **evidence},
                )
            documents.append({"role": role, "document_id": stored.id, "sm3": stored.sm3})
            info["document_id"], info["sm3"] = stored.id, stored.sm3
        session.state = outcome  # type: ignore[assignment]
        logged = {
            role: {k: (str(v) if k == "path" else v) for k, v in info.items() if k != "path"}
            for role, info in recordings.items()
        }
        body = json.dumps(session.log_document(logged), ensure_ascii=False, indent=1).encode()
        stored_log = vault.store(
            session.tenant,
            body,
            kind="video_session_log",
            content_type="application/json",
            filename=f"{session.id}-log.json",
            instance_id=session.instance_id,
            created_by="video",
            evidence={"session_id": session.id, "outcome": outcome},
        )
        shutil.rmtree(self.settings.recording_dir / session.id, ignore_errors=True)
        return {
            "session_id": session.id,
            "outcome": outcome,
            "recordings": documents,
            "recording_digests": [d["sm3"] for d in documents],
            "log_document_id": stored_log.id,
            "log_sm3": stored_log.sm3,
            "face_check": face,
            "disclosures": {
                "total": len(session.script.disclosures),
                "read": len(session.read),
                "confirmed": len(session.confirmed),
            },
        }

    def _correlate(self, session: SessionState, result: dict[str, Any]) -> None:
        for attempt in range(3):
            try:
                self.engine.correlate(
                    session.tenant,
                    OUTCOME_MESSAGE,
                    {SESSION_KEY: session.id},
                    {"video_outcome": result},
                    actor="video",
                )
                return
            except NotFound:
                log.warning(
                    "no instance waits for the outcome of video session %s (%s)",
                    session.id,
                    result["outcome"],
                )
                return
            except Conflict:
                time.sleep(0.2 * (attempt + 1))
        log.error("the outcome of video session %s could not be delivered", session.id)
